/**
 * Presigned S3 GET links (SigV4 query signing), made synchronously.
 *
 * Result links are signed while a task view is rendered, on the poll fast path
 * (> 10,000 polls/s); that code is synchronous, and the SDK's presigner
 * (@aws-sdk/s3-request-presigner) is async and costs far more per link (measured in
 * docs/decisions.md, "Presigned S3 links"). Caching the SDK's URLs per key would hand
 * out links that expire earlier than the rule (DARKROOM_RESULT_URL_TTL after the link
 * was given). So the SDK presigns one template URL at start, which fixes everything
 * the SDK decides (endpoint, path or virtual-host style, the fixed query parameters),
 * and this signs each key with the same algorithm: one SHA-256 and one HMAC per link,
 * the signing key derived once a day. test/media/s3-presigner.test.ts checks the
 * result equals the SDK's own URL byte for byte.
 *
 * Keys reaching here are storage keys (storage.ts: A-Z a-z 0-9 . _ - and "/"), so the
 * path needs no escaping and S3's single-encoded canonical path is the path itself.
 */
import { createHash, createHmac } from "node:crypto";

export interface PresignCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface PresignTemplate {
  /** scheme://host[:port] of the links. */
  origin: string;
  /** The Host header as signed (host[:port]). */
  host: string;
  /** Path before the object key: "/" (virtual-hosted) or "/bucket/" (path style). */
  basePath: string;
  /** Query parameters that depend on neither time, key nor credentials, RFC 3986-encoded. */
  fixed: Array<[string, string]>;
  /** What the canonical request names as the payload hash (UNSIGNED-PAYLOAD). */
  payloadHash: string;
}

/** Query parameters computed per link; the rest of the SDK's template is kept as it is. */
const PER_LINK = new Set([
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-Security-Token",
  "X-Amz-Signature",
]);

/** RFC 3986 encoding, as SigV4 (and the SDK's escapeUri) wants it. */
function escape(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Reads a URL presigned by the SDK for `objectKey` into what every other link shares. */
export function templateFromSdkUrl(url: string, objectKey: string): PresignTemplate {
  const u = new URL(url);
  if (!u.pathname.endsWith(`/${objectKey}`))
    throw new Error("presigned URL does not end in its key");
  const q = u.searchParams;
  if (q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256" || q.get("X-Amz-SignedHeaders") !== "host") {
    throw new Error("presigned URL is not SigV4 query signing over the host header alone");
  }
  return {
    origin: u.origin,
    host: u.host,
    basePath: u.pathname.slice(0, u.pathname.length - objectKey.length),
    fixed: [...q.entries()]
      .filter(([k]) => !PER_LINK.has(k))
      .map(([k, v]) => [escape(k), escape(v)]),
    payloadHash: q.get("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD",
  };
}

const hmac = (key: Buffer | string, data: string): Buffer =>
  createHmac("sha256", key).update(data).digest();

/** 20261206T120545Z from unix seconds. */
function amzDate(unixSec: number): string {
  return new Date(unixSec * 1000).toISOString().replace(/[-:]|\.\d{3}/g, "");
}

/** Everything shared by the links signed in one second with one set of credentials. */
interface SecondState {
  signedAtSec: number;
  expiresInSec: number;
  creds: PresignCredentials;
  /** Canonical query string (without the signature). */
  query: string;
  /** The string to sign up to the canonical request's hash. */
  toSignHead: string;
  signingKey: Buffer;
  /** The link's query around X-Amz-Signature, in SigV4 (sorted) order. */
  beforeSignature: string;
  afterSignature: string;
}

export class S3GetPresigner {
  private signingKey: { day: string; secret: string; key: Buffer } | null = null;
  private second: SecondState | null = null;

  constructor(
    private readonly template: PresignTemplate,
    private readonly region: string,
    /** The credentials in force now (kept fresh by the caller; read per link). */
    private readonly credentials: () => PresignCredentials,
  ) {}

  /** A GET link to `objectKey`, valid from `signedAtSec` for `expiresInSec` seconds. */
  sign(objectKey: string, signedAtSec: number, expiresInSec: number): string {
    const t = this.template;
    const s = this.secondState(signedAtSec, expiresInSec);
    const path = t.basePath + objectKey;
    const canonical = `GET\n${path}\n${s.query}\nhost:${t.host}\n\nhost\n${t.payloadHash}`;
    const hash = createHash("sha256").update(canonical).digest("hex");
    const signature = createHmac("sha256", s.signingKey)
      .update(s.toSignHead + hash)
      .digest("hex");
    return `${t.origin}${path}?${s.beforeSignature}X-Amz-Signature=${signature}${s.afterSignature}`;
  }

  /** Within one second (and one set of credentials) only the path and signature change. */
  private secondState(signedAtSec: number, expiresInSec: number): SecondState {
    const creds = this.credentials();
    const c = this.second;
    if (c && c.signedAtSec === signedAtSec && c.expiresInSec === expiresInSec && c.creds === creds)
      return c;
    const date = amzDate(signedAtSec);
    const day = date.slice(0, 8);
    const scope = `${day}/${this.region}/s3/aws4_request`;
    const params: Array<[string, string]> = [
      ...this.template.fixed,
      ["X-Amz-Credential", escape(`${creds.accessKeyId}/${scope}`)],
      ["X-Amz-Date", date],
      ["X-Amz-Expires", String(expiresInSec)],
    ];
    if (creds.sessionToken) params.push(["X-Amz-Security-Token", escape(creds.sessionToken)]);
    // Names are distinct, so ordering by name alone is SigV4's order.
    params.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const joined = (ps: Array<[string, string]>) => ps.map(([k, v]) => `${k}=${v}`).join("&");
    const at = params.findIndex(([k]) => k > "X-Amz-Signature");
    const before = at === -1 ? params : params.slice(0, at);
    const after = at === -1 ? [] : params.slice(at);
    const state: SecondState = {
      signedAtSec,
      expiresInSec,
      creds,
      query: joined(params),
      toSignHead: `AWS4-HMAC-SHA256\n${date}\n${scope}\n`,
      signingKey: this.keyFor(day, creds.secretAccessKey),
      beforeSignature: before.length > 0 ? `${joined(before)}&` : "",
      afterSignature: after.length > 0 ? `&${joined(after)}` : "",
    };
    this.second = state;
    return state;
  }

  private keyFor(day: string, secret: string): Buffer {
    const k = this.signingKey;
    if (k && k.day === day && k.secret === secret) return k.key;
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.region), "s3"), "aws4_request");
    this.signingKey = { day, secret, key };
    return key;
  }
}
