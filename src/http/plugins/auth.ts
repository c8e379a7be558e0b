/**
 * Bearer-key authentication for the /v1 routes. Keys are stored and looked up by their
 * hash (src/core/credentials.ts), so no secret is ever compared byte by byte.
 *
 * Lookups are cached for `cacheMs`: a revoked key stops working within that time on
 * other processes, and at once on the process that revoked it (`forget`).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { hashApiKey } from "../../core/credentials.js";
import { ApiError } from "../../core/errors.js";
import type { KeyPrincipal, Store } from "../../store/store.js";
import { SlidingWindowLimiter } from "./limiter.js";

/** Failed authentications one address may make per minute before it gets 429s. */
export const MAX_AUTH_FAILURES_PER_MINUTE = 20;

declare module "fastify" {
  interface FastifyRequest {
    principal: KeyPrincipal;
  }
}

const KEY_RE = /^sk-[A-Za-z0-9_-]{32,200}$/;
const MAX_CACHED = 10_000;

export class KeyCache {
  private readonly entries = new Map<string, { principal: KeyPrincipal; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly cacheMs: number,
  ) {}

  /** The cached principal, synchronously, if the cache holds a fresh one. */
  peek(hash: string, nowMs: number): KeyPrincipal | undefined {
    const hit = this.entries.get(hash);
    return hit && nowMs - hit.at < this.cacheMs ? hit.principal : undefined;
  }

  async lookup(hash: string, nowMs: number): Promise<KeyPrincipal | null> {
    const cached = this.peek(hash, nowMs);
    if (cached) return cached;
    const principal = await this.store.findKeyByHash(hash);
    if (principal && this.cacheMs > 0) {
      if (this.entries.size >= MAX_CACHED) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(hash, { principal, at: nowMs });
    }
    return principal;
  }

  forgetAll(): void {
    this.entries.clear();
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError("unauthorized", message, {
    headers: { "www-authenticate": 'Bearer realm="darkroom"' },
  });
}

function authenticate(principal: KeyPrincipal | null, nowMs: number): string | null {
  if (!principal) return "The API key is not valid.";
  if (principal.revoked) return "The API key has been revoked.";
  if (principal.accountDisabled) return "The account is disabled.";
  if (principal.expiresAt !== null && principal.expiresAt * 1000 <= nowMs)
    return "The API key has expired.";
  return null;
}

/**
 * The per-process authentication state shared by the Fastify auth hook and the poll
 * fast paths (http/fast-paths/): the key cache and both sliding-window limiters, so
 * the two paths can never disagree about who is admitted or how often.
 */
export class AuthGate {
  readonly failures = new SlidingWindowLimiter();
  readonly rpm = new SlidingWindowLimiter();

  constructor(readonly cache: KeyCache) {}

  /** The key carried by an Authorization header, or null when it is missing or malformed. */
  static bearer(header: string | undefined): string | null {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    return m && KEY_RE.test(m[1]!) ? m[1]! : null;
  }

  /**
   * Read-only admission for the fast path: the principal when the key is cached and
   * valid and has no rpm limit (so admitting it changes no counter). A cached valid key
   * is admitted even from a throttled address (see installAuth). Anything else:
   * undefined, and the caller takes the full path.
   */
  peekAdmissible(header: string | undefined, nowMs: number): KeyPrincipal | undefined {
    const hash = this.hashFor(header);
    if (hash === null) return undefined;
    const principal = this.cache.peek(hash, nowMs);
    if (!principal || principal.rpmLimit !== null) return undefined;
    if (authenticate(principal, nowMs) !== null) return undefined;
    this.remember(header!, hash);
    return principal;
  }

  /** The key hash an Authorization header carries; null when it carries no well-formed key. */
  hashFor(header: string | undefined): string | null {
    if (!header) return null;
    const known = this.headerHashes.get(header);
    if (known !== undefined) return known;
    const key = AuthGate.bearer(header);
    return key ? hashApiKey(key) : null;
  }

  /**
   * Authorization headers of admitted keys → their hash: a client sends the same header
   * every time, and parsing it and hashing the key was a tenth of a poll. It only saves
   * the hash; whether the key is good is still the cache's (and so the store's) answer
   * every time. Bounded like the key cache.
   */
  private readonly headerHashes = new Map<string, string>();

  remember(header: string, hash: string): void {
    if (this.headerHashes.has(header)) return;
    if (this.headerHashes.size >= MAX_CACHED)
      this.headerHashes.delete(this.headerHashes.keys().next().value!);
    this.headerHashes.set(header, hash);
  }
}

export function installAuth(app: FastifyInstance, gate: AuthGate): void {
  const { failures, rpm, cache } = gate;
  app.decorateRequest("principal", null as unknown as KeyPrincipal);

  /** Accepts or refuses a looked-up key; counts failures per address. */
  const admit = (
    req: FastifyRequest,
    principal: KeyPrincipal | null,
    nowMs: number,
  ): ApiError | null => {
    const why = authenticate(principal, nowMs);
    if (why !== null || !principal) {
      failures.count(req.ip, nowMs);
      return unauthorized(why ?? "The API key is not valid.");
    }
    if (principal.rpmLimit !== null) {
      const r = rpm.hit(principal.keyId, principal.rpmLimit, nowMs);
      if (!r.ok) {
        return new ApiError(
          "rate_limit_exceeded",
          "This API key has exceeded its requests per minute.",
          {
            headers: { "retry-after": String(r.retryAfterSeconds) },
          },
        );
      }
    }
    req.principal = principal;
    return null;
  };

  // Callback style, not async: a cached key is admitted without a promise per request.
  //
  // Throttling: an address that presented more than MAX_AUTH_FAILURES_PER_MINUTE bad
  // keys in the last minute gets 429 for any key the cache does not vouch for, so a key
  // guesser cannot reach the database; keys already known good (cached) still pass, so
  // clients sharing that address (NAT, a proxy without DARKROOM_TRUST_PROXY) are not
  // locked out. A request with no key at all costs nothing and counts for nothing.
  app.addHook("onRequest", (req: FastifyRequest, _reply, done) => {
    const nowMs = Date.now();
    const header = req.headers.authorization;
    const hash = gate.hashFor(header);
    if (hash === null) {
      if (header) failures.count(req.ip, nowMs);
      done(
        unauthorized(
          header
            ? "The API key is malformed."
            : "Missing API key: send Authorization: Bearer <key>.",
        ),
      );
      return;
    }
    const cached = cache.peek(hash, nowMs);
    if (cached) {
      const refused = admit(req, cached, nowMs);
      if (!refused) gate.remember(header!, hash);
      done(refused ?? undefined);
      return;
    }
    if (failures.peek(req.ip, nowMs) >= MAX_AUTH_FAILURES_PER_MINUTE) {
      done(
        new ApiError("rate_limit_exceeded", "Too many failed authentications from this address.", {
          headers: { "retry-after": "60" },
        }),
      );
      return;
    }
    cache.lookup(hash, nowMs).then(
      (principal) => done(admit(req, principal, nowMs) ?? undefined),
      (err: Error) => done(err),
    );
  });
}
