/**
 * How credentials are stored: as hashes, never as themselves. Shared by the HTTP
 * guards that check them, the admin routes that issue them and the first start that
 * creates them, so it lives here rather than in any one of them.
 *
 * SHA-256 without a salt or a slow hash: API keys and admin tokens are 190+ bits of
 * randomness, so a password hash buys nothing and would cap throughput; the lookup is
 * by hash, so no secret is ever compared byte by byte.
 */
import { createHash } from "node:crypto";

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Prefixed, so an admin token's hash can never match an API key's. */
export function hashAdminToken(token: string): string {
  return createHash("sha256").update(`darkroom-admin:${token}`).digest("hex");
}
