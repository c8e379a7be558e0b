/**
 * Hash routes (#/tasks/ID): the server serves one index.html, and nothing secret ever
 * goes in a route — only page names, ids and filters.
 */
import { useEffect, useState } from "preact/hooks";

export interface Route {
  page: string;
  id: string | null;
}

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? "overview", id: parts[1] ?? null };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

export const href = (page: string, id?: string): string =>
  id ? `#/${page}/${encodeURIComponent(id)}` : `#/${page}`;

export function go(page: string, id?: string): void {
  location.hash = href(page, id);
}
