/**
 * Signed, expiring links to stored files: `/files/<key>?exp=<unix s>&sig=<mac>`.
 * The MAC is HMAC-SHA256 over a domain-separation label, the key and the expiry, so a
 * signature is valid for one file until one moment; checked in constant time.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const LABEL = "darkroom-file-v1";

function mac(secret: Buffer, key: string, exp: string): Buffer {
  return createHmac("sha256", secret).update(`${LABEL}\n${key}\n${exp}`).digest();
}

export function signFileUrl(opts: {
  baseUrl: string;
  key: string;
  expiresAt: number;
  secret: Buffer;
}): string {
  const exp = String(Math.floor(opts.expiresAt));
  const sig = mac(opts.secret, opts.key, exp).toString("base64url");
  const path = opts.key.split("/").map(encodeURIComponent).join("/");
  return `${opts.baseUrl}/files/${path}?exp=${exp}&sig=${sig}`;
}

export function verifyFileSignature(opts: {
  key: string;
  exp: string | undefined;
  sig: string | undefined;
  secret: Buffer;
  nowSec: number;
}): "ok" | "expired" | "invalid" {
  const { exp, sig } = opts;
  if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return "invalid";
  const given = Buffer.from(sig, "base64url");
  const expected = mac(opts.secret, opts.key, exp);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
  return Number(exp) <= opts.nowSec ? "expired" : "ok";
}
