/**
 * The application/json body parser. Fastify's default one with two changes:
 *
 * - An empty body is "no body" (undefined), not an error: clients send
 *   `Content-Type: application/json` on every POST, including bodiless ones (cancel,
 *   key revoke, secret rotation, retries). Routes that need a body refuse `undefined`
 *   themselves (a submission answers 400 invalid_request, param body).
 * - A body refused for `__proto__` / `constructor.prototype` keys (secure-json-parse,
 *   which the default parser runs) says so, instead of "not valid JSON".
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";

export function installJsonBodyParser(app: FastifyInstance): void {
  // "error" for both: refuse (never silently strip) prototype-poisoning keys.
  const secureParse = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = body as string;
    if (text.length === 0) {
      done(null, undefined);
      return;
    }
    secureParse(req, text, (err, parsed) => {
      if (!err) return done(null, parsed);
      // The default parser reports every refusal alike; plain JSON.parse tells the two apart
      // (it accepts what secure-json-parse refused only for a forbidden key).
      done(isPlainJson(text) ? forbiddenKey() : notJson(), undefined);
    });
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
