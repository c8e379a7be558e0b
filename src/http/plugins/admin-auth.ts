/**
 * Authentication for /admin/v1: only the admin credential, never an API key. The
 * stored value is a hash; the comparison is constant-time over equal-length digests.
 *
 * Wrong tokens are treated like wrong API keys (plugins/auth.ts): each counts against
 * the address in the same sliding window, and an address over the limit gets 429
 * before the token is even checked, so the admin token cannot be guessed at full speed.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { hashAdminToken } from "../../core/credentials.js";
import { ApiError } from "../../core/errors.js";
import type { Store } from "../../store/store.js";
import { MAX_AUTH_FAILURES_PER_MINUTE } from "./auth.js";
import type { SlidingWindowLimiter } from "./limiter.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Who the admin guard let in (the admin credential: "admin"); null before it did. */
    adminActor: string | null;
  }
}

export function installAdminAuth(
  app: FastifyInstance,
  store: Pick<Store, "getSetting">,
  failures: SlidingWindowLimiter,
): void {
  app.decorateRequest("adminActor", null);
  app.addHook("onRequest", async (req) => {
    const nowMs = Date.now();
    if (failures.peek(req.ip, nowMs) >= MAX_AUTH_FAILURES_PER_MINUTE) {
      throw new ApiError(
        "rate_limit_exceeded",
        "Too many failed authentications from this address.",
        {
          headers: { "retry-after": "60" },
        },
      );
    }
    const unauthorized = new ApiError("unauthorized", "The admin API needs the admin token.", {
      headers: { "www-authenticate": 'Bearer realm="darkroom-admin"' },
    });
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    const stored = m ? await store.getSetting("admin_token_hash") : null;
    const given = m ? Buffer.from(hashAdminToken(m[1]!), "hex") : null;
    const expected = stored ? Buffer.from(stored, "hex") : null;
    if (
      !given ||
      !expected ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected)
    ) {
      // A request with no credential at all costs nothing and counts for nothing, as for keys.
      if (req.headers.authorization) failures.count(req.ip, nowMs);
      throw unauthorized;
    }
    // One admin credential exists; a second one (per-operator tokens) would name itself here.
    req.adminActor = "admin";
  });
}
