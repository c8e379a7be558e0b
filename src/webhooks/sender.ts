/**
 * The real WebhookSender: one POST through the safe fetcher (src/net), which checks
 * the address at connect time on the IP actually connected to, never follows a
 * redirect here (followRedirects false: a 3xx comes back as a response and is a failed
 * attempt with its status), and bounds the whole attempt by the timeout. Its
 * OutboundError kinds map onto attempt kinds.
 */
import { OutboundError, type SafeClient } from "../net/safe-request.js";
import type { WebhookSender } from "./dispatcher.js";
import type { SendResult } from "./schedule.js";

/** Receivers answer with small bodies; a larger one is cut (and the attempt fails). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export function safeWebhookSender(client: SafeClient, opts: { allowHttp: boolean }): WebhookSender {
  return async (req) => {
    try {
      const res = await client.request(req.url, {
        method: "POST",
        headers: req.headers,
        body: req.body,
        followRedirects: false,
        maxBytes: MAX_RESPONSE_BYTES,
        timeoutMs: req.timeoutMs,
        connectTimeoutMs: Math.min(5000, req.timeoutMs),
        signal: req.signal,
        requireHttps: !opts.allowHttp,
      });
      return { kind: "response", status: res.status };
    } catch (err) {
      return fromError(err);
    }
  };
}

function fromError(err: unknown): SendResult {
  if (!(err instanceof OutboundError)) return { kind: "network", message: "The request failed." };
  switch (err.reason) {
    case "blocked_address":
    case "bad_url":
      return { kind: "blocked", message: err.message };
    case "timeout":
      return { kind: "timeout" };
    case "http_error":
      return { kind: "response", status: err.status ?? 0 };
    case "too_many_redirects": // not raised: redirects are returned, not followed
    case "aborted":
    case "dns_failed":
    case "connect_failed":
    case "tls_failed":
    case "too_large":
    case "bad_response":
      return { kind: "network", message: err.message };
  }
}
