/**
 * The application/json body parser: secure-json-parse (what Fastify's default parser
 * runs), with two changes, shared by the Fastify parser and the submission fast path:
 *
 * - An empty body is "no body" (undefined), not an error: clients send
 *   `Content-Type: application/json` on every POST, including bodiless ones (cancel,
 *   key revoke, secret rotation, retries). Routes that need a body refuse `undefined`
 *   themselves (a submission answers 400 invalid_request, param body).
 * - A body refused for `__proto__` / `constructor.prototype` keys says so, instead of
 *   "not valid JSON".
 */
import type { FastifyInstance } from "fastify";
import parseSecureJson from "secure-json-parse";
import { ApiError } from "../core/errors.js";

// "error" for both: refuse (never silently strip) prototype-poisoning keys.
const STRICT = { protoAction: "error", constructorAction: "error" } as const;

export type ParsedBody = { ok: true; value: unknown } | { ok: false; error: ApiError };

export function parseJsonBody(text: string): ParsedBody {
  if (text.length === 0) return { ok: true, value: undefined };
  try {
    return { ok: true, value: parseSecureJson(text, STRICT) as unknown };
  } catch {
    // secure-json-parse reports every refusal alike; plain JSON.parse tells the two apart
    // (it accepts what secure-json-parse refused only for a forbidden key).
    return { ok: false, error: isPlainJson(text) ? forbiddenKey() : notJson() };
  }
}

export function installJsonBodyParser(app: FastifyInstance): void {
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    const parsed = parseJsonBody(body as string);
    if (parsed.ok) done(null, parsed.value);
    else done(parsed.error, undefined);
  });
}

function isPlainJson(text: string): boolean {
  try {
    // secure-json-parse strips a leading BOM before parsing; so does this check.
    JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    return true;
  } catch {
    return false;
  }
}

function notJson(): ApiError {
  return new ApiError("invalid_request", "The request body is not valid JSON.", { param: "body" });
}

function forbiddenKey(): ApiError {
  return new ApiError(
    "invalid_request",
    'The request body may not contain the keys "__proto__" or "constructor.prototype".',
    { param: "body" },
  );
}
