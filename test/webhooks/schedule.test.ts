/** The retry schedule and attempt classification (pure). */
import { describe, expect, it } from "vitest";
import {
  describeResult,
  MAX_ATTEMPTS,
  RETRY_DELAYS_MS,
  verdictFor,
} from "../../src/webhooks/schedule.js";
import { signWebhook } from "../../src/webhooks/sign.js";
import { Webhook } from "standardwebhooks";

describe("retry schedule", () => {
  it("is 4 attempts: at once, then after 1 s, 2 s and 4 s", () => {
    expect(RETRY_DELAYS_MS).toEqual([1000, 2000, 4000]);
    expect(MAX_ATTEMPTS).toBe(4);
    const failed = describeResult({ kind: "response", status: 500 });
    expect(verdictFor(failed, 1, 10_000)).toEqual({ status: "pending", nextAttemptMs: 11_000 });
    expect(verdictFor(failed, 2, 10_000)).toEqual({ status: "pending", nextAttemptMs: 12_000 });
    expect(verdictFor(failed, 3, 10_000)).toEqual({ status: "pending", nextAttemptMs: 14_000 });
    expect(verdictFor(failed, 4, 10_000)).toEqual({ status: "failed" });
  });

  it("2xx succeeds; 1xx, 3xx, 4xx, 5xx, timeouts and network errors are retried", () => {
    for (const status of [200, 201, 204, 299])
      expect(verdictFor(describeResult({ kind: "response", status }), 1, 0).status).toBe(
        "delivered",
      );
    for (const status of [101, 301, 302, 307, 308, 400, 404, 410, 429, 500, 502])
      expect(verdictFor(describeResult({ kind: "response", status }), 1, 0).status).toBe("pending");
    expect(verdictFor(describeResult({ kind: "timeout" }), 1, 0).status).toBe("pending");
    expect(describeResult({ kind: "response", status: 307 })).toEqual({
      statusCode: 307,
      errorKind: "http_status",
      errorMessage: "The receiver answered 307 (redirects are not followed).",
    });
    expect(
      verdictFor(
        describeResult({ kind: "network", message: "The server could not be reached." }),
        1,
        0,
      ).status,
    ).toBe("pending");
  });

  it("a blocked address or an unusable delivery fails at once", () => {
    expect(verdictFor(describeResult({ kind: "blocked", message: "No." }), 1, 0).status).toBe(
      "failed",
    );
    expect(verdictFor(describeResult({ kind: "invalid", message: "No." }), 1, 0).status).toBe(
      "failed",
    );
  });
});

describe("signing", () => {
  it("produces headers the standard verifier accepts, with whole-second timestamps", () => {
    const secret = `whsec_${Buffer.alloc(24, 9).toString("base64")}`;
    const at = new Date(1_764_000_000_789);
    const h = signWebhook(secret, "msg_1", '{"a":1}', at);
    expect(h["webhook-id"]).toBe("msg_1");
    expect(h["webhook-timestamp"]).toBe("1764000000");
    expect(h["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // verify() checks the timestamp against now: sign "now" for the round trip.
    const fresh = signWebhook(secret, "msg_1", '{"a":1}');
    expect(new Webhook(secret).verify('{"a":1}', { ...fresh })).toEqual({ a: 1 });
    expect(() => new Webhook(secret).verify('{"a":2}', { ...fresh })).toThrow();
  });
});
