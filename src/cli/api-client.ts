/**
 * The CLI's client for the public API of a Darkroom or any EvoLink-compatible gateway:
 * base URL and API key from flags or the environment (DARKROOM_URL, DARKROOM_API_KEY).
 * A refusal becomes a CliError with the server's own message and the exit code for its
 * status (exit-codes.ts). The key goes in the Authorization header only, and is scrubbed
 * from anything printed.
 */
import { CliError, EXIT, exitCodeForStatus } from "./exit-codes.js";
import { fetchWithRetry } from "./http-retry.js";

export interface ApiTarget {
  /** Base URL without a trailing slash or `/v1`. */
  url: string;
  /** Where the file API lives (EvoLink serves it on a host of its own); `url` by default. */
  filesUrl: string;
  key: string;
}

export interface ApiTargetFlags {
  url?: string;
  filesUrl?: string;
  key?: string;
}

const baseUrl = (u: string) => u.replace(/\/+$/, "").replace(/\/v1$/, "");

export function resolveApiTarget(opts: ApiTargetFlags, env = process.env): ApiTarget {
  const url = baseUrl(opts.url ?? env.DARKROOM_URL ?? `http://127.0.0.1:${env.PORT ?? "8080"}`);
  const key = opts.key ?? env.DARKROOM_API_KEY;
  if (!key) throw new CliError("no API key: pass --key or set DARKROOM_API_KEY", EXIT.auth);
  const files = opts.filesUrl ?? env.DARKROOM_FILES_URL;
  return { url, filesUrl: files ? baseUrl(files) : url, key };
}

export interface CallOptions {
  body?: unknown;
  /** Makes a POST safe to retry: the server answers a repeat with the same task. */
  idempotencyKey?: string;
}

export async function apiCall<T>(
  t: ApiTarget,
  method: "GET" | "POST",
  path: string,
  opts: CallOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${t.key}` };
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (opts.idempotencyKey) headers["idempotency-key"] = opts.idempotencyKey;
  const res = await fetchWithRetry(
    `${t.url}${path}`,
    { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) },
    { retry: method === "GET" || opts.idempotencyKey !== undefined },
  ).catch((e: unknown) => {
    throw scrub(t, e);
  });
  return readAnswer<T>(t, res, `${method} ${path}`);
}

/** The JSON of a 2xx answer, or a CliError carrying the server's message. */
export async function readAnswer<T>(t: ApiTarget, res: Response, what: string): Promise<T> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(
      `${what}: HTTP ${res.status} with a non-JSON answer`,
      res.ok ? EXIT.unavailable : exitCodeForStatus(res.status),
    );
  }
  if (!res.ok) throw scrub(t, refusal(res.status, json));
  return json as T;
}

/** Both error shapes: the task API's `{error: {code, message, param}}` and the file API's `{code, msg}`. */
function refusal(status: number, json: unknown): CliError {
  const body = (json ?? {}) as {
    error?: { code?: string; message?: string; param?: string };
    code?: unknown;
    msg?: string;
    message?: string;
  };
  const message = body.error?.message ?? body.msg ?? body.message ?? `HTTP ${status}`;
  const code = body.error?.code ?? (body.code === undefined ? undefined : String(body.code));
  const param = body.error?.param ? `, param ${body.error.param}` : "";
  return new CliError(
    `${message} (HTTP ${status}${code ? ` ${code}` : ""}${param})`,
    exitCodeForStatus(status),
  );
}

/** The key never reaches the terminal, even if a server or a library echoes it. */
export function scrub(t: ApiTarget, e: unknown): CliError {
  const err = e instanceof CliError ? e : new CliError(String(e), EXIT.unavailable);
  if (!err.message.includes(t.key)) return err;
  return new CliError(err.message.split(t.key).join("[key]"), err.exitCode);
}
