/**
 * The CLI's client for the admin API: URL and token from flags or the environment
 * (DARKROOM_URL, DARKROOM_ADMIN_TOKEN). Errors come back as the API's own message.
 */
import { CliError } from "./exit-codes.js";

export { CliError };

export interface AdminTarget {
  url: string;
  token: string;
}

export function resolveTarget(
  opts: { url?: string; token?: string },
  env = process.env,
): AdminTarget {
  const url = (opts.url ?? env.DARKROOM_URL ?? `http://127.0.0.1:${env.PORT ?? "8080"}`).replace(
    /\/+$/,
    "",
  );
  const token = opts.token ?? env.DARKROOM_ADMIN_TOKEN;
  if (!token) throw new CliError("no admin token: pass --token or set DARKROOM_ADMIN_TOKEN");
  return { url, token };
}

export async function adminCall<T = unknown>(
  t: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${t.url}/admin/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${t.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new CliError(`cannot reach ${t.url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`${method} ${path}: HTTP ${res.status} with a non-JSON answer`);
  }
  if (!res.ok) {
    const err = (json as { error?: { message?: string; code?: string } }).error;
    throw new CliError(`${err?.message ?? `HTTP ${res.status}`} (${err?.code ?? res.status})`);
  }
  return json as T;
}
