/**
 * The one error the safe fetcher throws. `reason` is a machine kind callers branch on
 * (retry a webhook? fail a task?); `clause` is a short lower-case phrase naming nothing
 * the user did not give (no resolved addresses, no redirect targets' internals), meant
 * to be embedded in a sentence such as `image_urls[2] could not be fetched: ${clause}.`;
 * `message` is that clause as a sentence. `detail` is for logs only.
 */
export type OutboundErrorReason =
  /** Not http(s), unparseable, carries userinfo, or http where https is required. */
  | "bad_url"
  /** The host is (or resolves to, or connected to) an address or name the policy refuses. */
  | "blocked_address"
  /** The host name did not resolve. */
  | "dns_failed"
  /** TCP connection refused, reset or unreachable. */
  | "connect_failed"
  /** The TLS handshake or certificate verification failed. */
  | "tls_failed"
  /** The connect timeout or the total timeout elapsed. */
  | "timeout"
  /** The body (or its announced Content-Length) exceeds maxBytes. */
  | "too_large"
  /** More redirects than maxRedirects. */
  | "too_many_redirects"
  /** Final status not 2xx, when the caller asked for throwOnHttpError. */
  | "http_error"
  /** A malformed response, a redirect without a usable Location, a cut body. */
  | "bad_response"
  /** The caller's signal aborted the request. */
  | "aborted";

export class OutboundError extends Error {
  override name = "OutboundError";
  constructor(
    readonly reason: OutboundErrorReason,
    /** Lower-case phrase without a final period, safe to show to the user. */
    readonly clause: string,
    /** For logs only (addresses, hop URLs, system error codes); never shown to users. */
    readonly detail?: string,
    /** The final HTTP status, for http_error. */
    readonly status?: number,
  ) {
    super(`${clause.charAt(0).toUpperCase()}${clause.slice(1)}.`);
  }
}
