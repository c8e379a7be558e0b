/**
 * Facts about a failed upstream HTTP call that every HTTP provider reads the same way:
 * which network error codes mean the request never reached the upstream, and how long
 * the upstream asks us to wait (Retry-After). Pure: no I/O.
 */

/** Network-level error codes raised before a byte of the request left: nothing was received. */
export const NEVER_REACHED_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The string `code`s along an error's `cause` chain, outermost first (a few levels deep). */
export function errorCodes(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") out.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

type Headers = Record<string, string | string[] | undefined>;

const MAX_WAIT_MS = 3_600_000;
const capWait = (ms: number) => Math.min(Math.max(0, Math.round(ms)), MAX_WAIT_MS);
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.trim();

/**
 * One Retry-After value — delta-seconds or an HTTP date (RFC 9110 §10.2.3) — in ms,
 * capped at an hour; undefined when absent or unreadable.
 */
export function retryAfterValueMs(
  value: string | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return capWait(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : capWait(at - nowMs);
}

/** Retry-After as milliseconds: `retry-after-ms` (OpenAI), or `retry-after` seconds or date. */
export function parseRetryAfter(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const ms = first(headers["retry-after-ms"]);
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return capWait(Number(ms));
  return retryAfterValueMs(first(headers["retry-after"]), nowMs);
}
