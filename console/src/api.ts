/**
 * Calls to Darkroom's own API. The admin token and API keys travel only in the
 * Authorization header, never in a URL (URLs end up in logs and browser history).
 */
import { adminToken, signOut } from "./session";

/** An error answer, as the API's JSON error body gives it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

interface CallInit {
  method?: string;
  /** JSON, or a FormData sent as multipart (the browser writes its boundary). */
  body?: unknown;
}

async function call<T>(path: string, bearer: string | null, init: CallInit = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const form = init.body instanceof FormData ? init.body : null;
  if (init.body !== undefined && !form) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers,
      body: form ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new HttpError(0, "network_error", "Darkroom could not be reached.");
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; param?: string } })?.error;
    // The file API answers errors as EvoLink does: {success: false, code, msg, data}.
    const msg = (json as { msg?: unknown })?.msg;
    throw new HttpError(
      res.status,
      e?.code ?? "http_error",
      e?.message ?? (typeof msg === "string" ? msg : `HTTP ${res.status}`),
      e?.param,
    );
  }
  return json as T;
}

/** The admin API (/admin/v1) with the signed-in admin token; a 401 signs out. */
export async function adminApi<T>(path: string, init: CallInit = {}): Promise<T> {
  try {
    return await call<T>(`/admin/v1${path}`, adminToken(), init);
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) signOut("The admin token was refused.");
    throw err;
  }
}

/** Checks an admin token before it is kept (GET /admin/v1/status answers 200 to a good one). */
export async function checkAdminToken(token: string): Promise<void> {
  await call("/admin/v1/status", token);
}

/** The public API (/v1) with an API key. */
export function publicApi<T>(path: string, apiKey: string, init: CallInit = {}): Promise<T> {
  return call<T>(`/v1${path}`, apiKey, init);
}

/** EvoLink's file API (/api/v1/files) with an API key: the `data` of its answer. */
export async function fileApi<T>(path: string, apiKey: string, init: CallInit = {}): Promise<T> {
  return (await call<{ data: T }>(`/api/v1/files${path}`, apiKey, init)).data;
}

/** Query string from the set values (never a credential: callers pass filters only). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** An endpoint this server does not have (an older Darkroom): pages show "not available". */
export const isMissingEndpoint = (err: unknown): boolean =>
  err instanceof HttpError &&
  (err.status === 404 || err.status === 405) &&
  err.code !== "task_not_found";
