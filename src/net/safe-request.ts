/**
 * The safe fetcher: the ONLY way Darkroom makes a request to a URL a user chose
 * (reference images, webhook callbacks). Upstream base URLs chosen by the operator do
 * not go through here.
 *
 *   const client = createSafeClient(config.outbound);          // OutboundPolicy
 *   const res = await client.request(url, { maxBytes: 10 << 20, signal });
 *   // res: { status, headers, body: Buffer, finalUrl, remoteAddress, redirects }
 *   // failures throw OutboundError { reason, clause, message, detail?, status? }
 *
 * Guarantees, per hop (the first URL and every redirect target):
 * - http and https only, not on the Fetch standard's "bad ports" (25, 22, 6667...); a
 *   URL with userinfo is refused (bad_url); with requireHttps,
 *   http is refused, and an https → http redirect is always refused.
 * - A literal address host (any IPv4 spelling, any IPv6 form) is range-checked before
 *   connecting. A name is resolved by the fetcher itself (`resolve` option, default
 *   getaddrinfo) inside the socket's `lookup` hook, and EVERY address it returns is
 *   checked: if any is refused, the name is refused (a public name with a private
 *   record is misconfigured or hostile; picking the "good" ones would make the result
 *   depend on record order). The socket connects only to those checked addresses, so
 *   there is no window for DNS rebinding. As a second line, the socket's remote
 *   address is checked again on 'connect', before a byte is written.
 * - Refused: loopback, private, link-local, CGNAT, multicast, unspecified, reserved,
 *   IPv6 unique-local, IPv4-mapped/compatible/NAT64/6to4 forms of those, internal
 *   names (localhost, *.internal, single-label). Operators allow exceptions through
 *   the OutboundPolicy (DARKROOM_OUTBOUND_ALLOW, see policy.ts).
 * - At most 3 redirects (maxRedirects may lower it; 0 refuses any); 301/302/303 turn
 *   into GET without a body, 307/308 keep method and body; authorization and cookie
 *   headers are dropped when a redirect changes origin. With followRedirects false a
 *   3xx is returned as the response, un-followed (webhooks record its status).
 * - The body is streamed into memory with a hard cap (maxBytes): an announced
 *   Content-Length over the cap is refused before reading, a stream passing it is cut.
 * - connectTimeoutMs bounds DNS + TCP + TLS of each hop; timeoutMs bounds everything.
 * - No ambient state: a fresh connection per request (no global agent, no undici global
 *   dispatcher, no HTTP_PROXY/HTTPS_PROXY/NO_PROXY), no cookies, no credentials, no
 *   compression (accept-encoding: identity). TLS certificates are always verified;
 *   `ca` (tests, on-prem) adds certificates to the default roots.
 * - Any final status is returned (webhooks look at it); throwOnHttpError turns a
 *   non-2xx final status into OutboundError "http_error".
 */
import type { IncomingHttpHeaders } from "node:http";
import { OutboundError } from "./errors.js";
import { oneHop, readCapped } from "./hop.js";
import { hostVerdict, type OutboundPolicy } from "./policy.js";
import { systemResolve, type Resolve } from "./resolve.js";

export { OutboundError, type OutboundErrorReason } from "./errors.js";
export { DEFAULT_OUTBOUND_POLICY, parseOutboundAllow, type OutboundPolicy } from "./policy.js";
export { dnsServerResolve, systemResolve, type Resolve, type ResolvedAddress } from "./resolve.js";

/** The hard ceiling on redirects, whatever a caller asks for. */
export const MAX_REDIRECTS = 3;

export interface SafeClientOptions {
  /** Name resolution (default: getaddrinfo). Tests inject a real DNS server here. */
  resolve?: Resolve;
  /** Extra trusted CA certificates (PEM), added to the default roots. For tests and on-prem. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface SafeRequestOptions {
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** 0..3, default 3; over the limit (0: any 3xx) throws "too_many_redirects". */
  maxRedirects?: number;
  /**
   * false: a 3xx is not followed but returned like any other final status, its
   * Location never fetched (maxRedirects then does not apply). Default true.
   */
  followRedirects?: boolean;
  /** Default 10 MiB. */
  maxBytes?: number;
  /** Per hop: DNS + TCP + TLS. Default 5 s. */
  connectTimeoutMs?: number;
  /** The whole request, redirects and body included. Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Refuse http: URLs (on the first hop and every redirect). Default false. */
  requireHttps?: boolean;
  /** Throw OutboundError("http_error") when the final status is not 2xx. Default false. */
  throwOnHttpError?: boolean;
}

export interface SafeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  finalUrl: string;
  /** The address actually connected to for the final hop (for logs, not for users). */
  remoteAddress: string;
  redirects: number;
}

export interface SafeClient {
  readonly policy: OutboundPolicy;
  request(url: string, opts?: SafeRequestOptions): Promise<SafeResponse>;
}

const DEFAULTS = {
  maxBytes: 10 * 1024 * 1024,
  connectTimeoutMs: 5000,
  timeoutMs: 30_000,
};
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/**
 * The Fetch standard's "bad ports" (mail, SSH, DNS, IRC, ...): an HTTP request there is
 * at best useless and at worst protocol smuggling, whatever the address.
 */
const BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
  103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
  512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
  995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
  6669, 6697, 10080,
]);
const DROP_ON_CROSS_ORIGIN = new Set(["authorization", "cookie", "proxy-authorization"]);

export function createSafeClient(policy: OutboundPolicy, opts: SafeClientOptions = {}): SafeClient {
  const resolve = opts.resolve ?? systemResolve;
  return {
    policy,
    request: (url, ro = {}) => safeRequest(policy, resolve, opts.ca, url, ro),
  };
}

/** Parses and checks one hop's URL (scheme, userinfo, literal or internal host). */
function checkHop(policy: OutboundPolicy, raw: string | URL, requireHttps: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundError("bad_url", "the URL is not a valid absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new OutboundError("bad_url", "the URL must use http or https");
  if (requireHttps && url.protocol !== "https:")
    throw new OutboundError("bad_url", "the URL must use https");
  if (url.username || url.password)
    throw new OutboundError("bad_url", "the URL must not carry credentials");
  if (!url.hostname) throw new OutboundError("bad_url", "the URL has no host");
  if (url.port && BAD_PORTS.has(Number(url.port)))
    throw new OutboundError("bad_url", `the URL's port ${url.port} is not allowed`);
  const why = hostVerdict(policy, url.hostname);
  if (why !== null)
    throw new OutboundError(
      "blocked_address",
      `the URL's host is not allowed (${why})`,
      url.hostname,
    );
  return url;
}

async function safeRequest(
  policy: OutboundPolicy,
  resolve: Resolve,
  ca: SafeClientOptions["ca"],
  rawUrl: string,
  ro: SafeRequestOptions,
): Promise<SafeResponse> {
  const maxRedirects = Math.max(0, Math.min(MAX_REDIRECTS, ro.maxRedirects ?? MAX_REDIRECTS));
  const maxBytes = ro.maxBytes ?? DEFAULTS.maxBytes;
  const requireHttps = ro.requireHttps ?? false;

  // One controller for the whole request: the total timeout and the caller's signal.
  const control = new AbortController();
  const total = setTimeout(
    () => control.abort(new OutboundError("timeout", "the server took too long to answer")),
    ro.timeoutMs ?? DEFAULTS.timeoutMs,
  );
  const onCallerAbort = () =>
    control.abort(new OutboundError("aborted", "the request was cancelled"));
  if (ro.signal?.aborted) onCallerAbort();
  else ro.signal?.addEventListener("abort", onCallerAbort, { once: true });

  try {
    let url = checkHop(policy, rawUrl, requireHttps);
    let method = (ro.method ?? "GET").toUpperCase();
    let body = ro.body;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(ro.headers ?? {})) headers[k.toLowerCase()] = v;
    for (let redirects = 0; ; redirects++) {
      const hop = await oneHop(policy, resolve, ca, url, method, headers, body, {
        signal: control.signal,
        connectTimeoutMs: ro.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      });
      const { res } = hop;
      const status = res.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status) && ro.followRedirects !== false) {
        res.destroy();
        // The limit first: with maxRedirects 0 any 3xx is "too_many_redirects".
        if (redirects >= maxRedirects)
          throw new OutboundError(
            "too_many_redirects",
            maxRedirects === 0
              ? "the URL answered with a redirect, which is not followed"
              : `the URL redirected more than ${maxRedirects} time${maxRedirects === 1 ? "" : "s"}`,
          );
        const location = res.headers.location;
        if (!location)
          throw new OutboundError("bad_response", "the server redirected without a location");
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new OutboundError("bad_response", "the server redirected to an invalid URL");
        }
        if (url.protocol === "https:" && next.protocol === "http:")
          throw new OutboundError("bad_url", "the URL redirected from https to http");
        next = checkHop(policy, next, requireHttps);
        if (next.origin !== url.origin) for (const h of DROP_ON_CROSS_ORIGIN) delete headers[h];
        if (status === 303 || ((status === 301 || status === 302) && method === "POST")) {
          if (method !== "HEAD") method = "GET";
          body = undefined;
          delete headers["content-type"];
          delete headers["content-length"];
        }
        url = next;
        continue;
      }
      if (ro.throwOnHttpError && (status < 200 || status > 299)) {
        res.destroy(); // the body of an error is not read
        throw new OutboundError(
          "http_error",
          `the server answered with HTTP status ${status}`,
          undefined,
          status,
        );
      }
      const data = await readCapped(res, maxBytes, control.signal);
      return {
        status,
        headers: res.headers,
        body: data,
        finalUrl: url.toString(),
        remoteAddress: hop.remoteAddress,
        redirects,
      };
    }
  } catch (err) {
    if (control.signal.aborted && control.signal.reason instanceof OutboundError)
      throw control.signal.reason;
    throw err;
  } finally {
    clearTimeout(total);
    ro.signal?.removeEventListener("abort", onCallerAbort);
  }
}
