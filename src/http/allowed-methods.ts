/**
 * Which methods a known path takes, so that a wrong method is answered 405 with
 * `Allow` (RFC 9110 §15.5.6) instead of the 404 a router gives for "no such route".
 * Filled from Fastify's onRoute as routes register; read by the not-found handler.
 */
import type { FastifyInstance } from "fastify";

interface Pattern {
  re: RegExp;
  methods: Set<string>;
}

export class AllowedMethods {
  private readonly patterns = new Map<string, Pattern>();

  /** Learns every route `app` registers from now on. */
  install(app: FastifyInstance): void {
    app.addHook("onRoute", (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const m of methods) this.add(m, route.url);
    });
  }

  add(method: string, url: string): void {
    let p = this.patterns.get(url);
    if (!p) {
      p = { re: patternToRegExp(url), methods: new Set() };
      this.patterns.set(url, p);
    }
    p.methods.add(method.toUpperCase());
    // Fastify answers HEAD for every GET route.
    if (method.toUpperCase() === "GET") p.methods.add("HEAD");
  }

  /** The methods `path` (no query string) takes, sorted; empty when no route matches it. */
  for(path: string): string[] {
    const all = new Set<string>();
    for (const p of this.patterns.values()) {
      if (p.re.test(path)) for (const m of p.methods) all.add(m);
    }
    return [...all].sort();
  }
}

/** `/v1/tasks/:taskId/cancel` → /^\/v1\/tasks\/[^/]+\/cancel$/ (and `*` → anything). */
function patternToRegExp(url: string): RegExp {
  const source = url
    .split("/")
    .map((seg) =>
      seg.startsWith(":")
        ? "[^/]+"
        : seg === "*"
          ? ".*"
          : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("/");
  return new RegExp(`^${source}$`);
}
