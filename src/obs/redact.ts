/**
 * What must never reach a log: API keys, admin tokens, webhook secrets, and the
 * signatures of result links and presigned URLs (each of those is a bearer capability:
 * whoever reads the log could use it). Everything Darkroom logs goes through the
 * logger's redaction (obs/logger.ts), which uses these.
 */

/** Query parameters whose values are credentials or signatures. */
const SECRET_PARAMS =
  /^(sig|signature|token|access_token|key|api_key|apikey|secret|password|x-amz-signature|x-amz-credential|x-amz-security-token)$/i;

/** Credential-shaped strings inside free text (error messages, upstream bodies). */
const SECRET_TEXT: Array<[RegExp, string]> = [
  [/\b(sk-)[A-Za-z0-9_-]{8,}/g, "$1[redacted]"],
  [/\b(whsec_)[A-Za-z0-9+/=_-]{8,}/g, "$1[redacted]"],
  // Google API keys (a gemini channel's): "AIza" and 35 more characters.
  [/\b(AIza)[A-Za-z0-9_-]{30,}/g, "$1[redacted]"],
  [/\b(Bearer\s+)[^\s"',]+/gi, "$1[redacted]"],
  [
    /([?&](?:sig|signature|token|access_token|key|api_key|apikey|secret|password|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&\s"'#]*/gi,
    "$1[redacted]",
  ],
];

/** A URL or request target with the values of secret query parameters replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const parts = url.slice(q + 1).split("&");
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i]!.indexOf("=");
    const name = eq < 0 ? parts[i]! : parts[i]!.slice(0, eq);
    if (eq >= 0 && SECRET_PARAMS.test(safeDecode(name))) {
      parts[i] = `${name}=[redacted]`;
      changed = true;
    }
  }
  return changed ? `${url.slice(0, q)}?${parts.join("&")}` : url;
}

/** Free text with anything credential-shaped replaced. */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
