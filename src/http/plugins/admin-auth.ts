/**
 * Authentication for /admin/v1: only the admin credential, never an API key. The
 * stored value is a hash; the comparison is constant-time over equal-length digests.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import { hashAdminToken } from "../../server/bootstrap.js";
import type { Store } from "../../store/store.js";

export function installAdminAuth(app: FastifyInstance, store: Store): void {
  app.addHook("onRequest", async (req) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    const unauthorized = new ApiError("unauthorized", "The admin API needs the admin token.", {
      headers: { "www-authenticate": 'Bearer realm="darkroom-admin"' },
    });
    if (!m) throw unauthorized;
    const stored = await store.getSetting("admin_token_hash");
    if (!stored) throw unauthorized;
    const given = Buffer.from(hashAdminToken(m[1]!), "hex");
    const expected = Buffer.from(stored, "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized;
  });
}
