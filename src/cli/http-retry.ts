/**
 * fetch (undici, Node's global) with a per-attempt timeout and, for requests that are
 * safe to repeat (GET, or a POST carrying an Idempotency-Key), retries with exponential
 * backoff on network errors, 429 and 503, honouring Retry-After. A request that never
 * got an answer becomes a CliError with exit code 4; HTTP answers are returned as they
 * are, for the caller to judge.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, EXIT } from "./exit-codes.js";

export interface RetryOptions {
  /** Whether repeating the request is harmless. */
  retry: boolean;
  /** Per attempt, whole body included for downloads (the caller reads it within). */
  timeoutMs?: number;
  /** Attempts in all, the first included. */
  attempts?: number;
}

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8_000;
/** A server asking for longer than this is answered with an error rather than a long silence. */
const MAX_RETRY_AFTER_MS = 30_000;
const RETRY_STATUSES = new Set([429, 503]);

export async function fetchWithRetry(
  url: string,
  init: RequestInit,
  opts: RetryOptions,
): Promise<Response> {
  const attempts = opts.retry ? (opts.attempts ?? 4) : 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= attempts;
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      if (last) throw unreachable(url, e, timeoutMs);
      await sleep(backoffMs(attempt));
      continue;
    }
    if (last || !RETRY_STATUSES.has(res.status)) return res;
    const wait = retryAfterMs(res.headers.get("retry-after")) ?? backoffMs(attempt);
    if (wait > MAX_RETRY_AFTER_MS) return res;
    await res.body?.cancel();
    await sleep(wait);
  }
}

/** 0.5 s, 1 s, 2 s … up to 8 s, each with up to a quarter more at random (no thundering herd). */
export function backoffMs(attempt: number): number {
  const base = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(base * (1 + Math.random() / 4));
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function unreachable(url: string, e: unknown, timeoutMs: number): CliError {
  const origin = safeOrigin(url);
  if (e instanceof Error && e.name === "TimeoutError")
    return new CliError(`no answer from ${origin} within ${timeoutMs / 1000} s`, EXIT.unavailable);
  // undici reports "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND…) in `cause`.
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined;
  const why = cause ?? (e instanceof Error ? e.message : String(e));
  return new CliError(`cannot reach ${origin}: ${why}`, EXIT.unavailable);
}

/** The URL's origin only: a signed result link's query is a credential of its own. */
function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "the server";
  }
}
