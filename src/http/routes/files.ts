/**
 * GET /files/<key>?exp=&sig= — result images, served by the gateway itself through
 * HMAC-signed, expiring links (no API key: the signature is the credential).
 * Tampered and expired links are 403; a valid link to a missing file is 404.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import { assertValidKey } from "../../media/storage.js";
import { verifyFileSignature } from "../../media/signed-url.js";
import type { AppDeps } from "../app.js";

export type FileRouteDeps = Pick<AppDeps, "signingSecret" | "media">;

export function fileRoutes(app: FastifyInstance, deps: FileRouteDeps): void {
  app.get<{
    Params: { "*": string };
    Querystring: { exp?: string; sig?: string; download?: string };
  }>("/files/*", async (req, reply) => {
    const key = req.params["*"];
    try {
      assertValidKey(key);
    } catch {
      throw new ApiError("file_not_found", "No such file.");
    }
    const nowSec = Math.floor(Date.now() / 1000);
    const verdict = verifyFileSignature({
      key,
      exp: typeof req.query.exp === "string" ? req.query.exp : undefined,
      sig: typeof req.query.sig === "string" ? req.query.sig : undefined,
      secret: deps.signingSecret,
      nowSec,
    });
    if (verdict === "expired") throw new ApiError("forbidden", "This link has expired.");
    if (verdict !== "ok") throw new ApiError("forbidden", "This link is not valid.");
    const file = await deps.media.open(key);
    if (!file) throw new ApiError("file_not_found", "No such file.");
    const maxAge = Math.max(0, Number(req.query.exp) - nowSec);
    // An uploaded file's download_url (routes/uploads.ts): saved under its own name.
    if (req.query.download !== undefined)
      reply.header(
        "content-disposition",
        `attachment; filename="${key.slice(key.lastIndexOf("/") + 1)}"`,
      );
    return reply
      .header("content-type", file.contentType)
      .header("content-length", String(file.bytes))
      .header("cache-control", `private, max-age=${maxAge}, immutable`)
      .header("x-content-type-options", "nosniff")
      .send(file.stream);
  });
}
