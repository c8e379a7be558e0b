/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id` (stable
 * across the retries of one event, so receivers can drop duplicates),
 * `webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), keyed by the account's
 * `whsec_<base64>` secret. The `standardwebhooks` package does the HMAC, so a receiver
 * using any Standard Webhooks library verifies what we send.
 */
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

export function signWebhook(
  secret: string,
  msgId: string,
  body: string,
  at: Date = new Date(),
): SignedHeaders {
  // Standard Webhooks timestamps are whole seconds: sign exactly what the header says.
  const seconds = Math.floor(at.getTime() / 1000);
  const signature = new Webhook(secret).sign(msgId, new Date(seconds * 1000), body);
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(seconds),
    "webhook-signature": signature,
  };
}

/** A fresh per-account secret in the `whsec_<base64>` form (24 random bytes). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}
