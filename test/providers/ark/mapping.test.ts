/**
 * The ark provider's pure parts: error classification (upstreams.md §1 table),
 * Retry-After, the request body mapping, SSE event and JSON answer parsing.
 */
import { describe, expect, it } from "vitest";
import { readArkChannel } from "../../../src/providers/ark/channel.js";
import {
  ArkProtocolError,
  arkHttpError,
  arkTransportError,
  classifyArkError,
} from "../../../src/providers/ark/errors.js";
import { arkSize, buildArkBody } from "../../../src/providers/ark/request.js";
import { parseArkResult } from "../../../src/providers/ark/response.js";
import { parseArkStreamEvent } from "../../../src/providers/ark/stream.js";
import { ProviderError } from "../../../src/providers/contract.js";
import { retryAfterValueMs as parseRetryAfter } from "../../../src/providers/http-faults.js";
import { genReq } from "./ark-helpers.js";

describe("classifyArkError", () => {
  it.each([
    [400, "InputTextSensitiveContentDetected", "content_policy_violation", false],
    [400, "InputImageSensitiveContentDetected.PolicyViolation", "content_policy_violation", false],
    [400, "OutputImageSensitiveContentDetected", "content_policy_violation", false],
    [400, "OutputTextRiskDetection", "content_policy_violation", false],
    [400, "SensitiveContentDetected", "content_policy_violation", false],
    [400, "InvalidParameter", "invalid_parameters", false],
    [400, "MissingParameter.Prompt", "invalid_parameters", false],
    [400, "InvalidImageURL.EmptyURI", "image_processing_error", false],
    [400, "SomethingNew", "invalid_parameters", false],
    [401, "AuthenticationError", "service_unavailable", true],
    [403, "AccessDenied", "service_unavailable", true],
    [403, "AccountOverdueError", "service_unavailable", true],
    [403, "OperationDenied.ServiceOverdue", "service_unavailable", true],
    [403, undefined, "service_unavailable", true],
    [404, "InvalidEndpointOrModel.NotFound", "service_unavailable", true],
    [404, "ModelNotOpen", "service_unavailable", true],
    [429, "RateLimitExceeded.EndpointTPMExceeded", "resource_exhausted", true],
    [429, "AccountRateLimitExceeded", "resource_exhausted", true],
    [429, "QuotaExceeded", "resource_exhausted", true],
    [429, "ServerOverloaded", "resource_exhausted", true],
    [429, "InflightBatchsizeExceeded", "resource_exhausted", true],
    [429, undefined, "resource_exhausted", true],
    [500, "InternalServiceError", "service_error", true],
    [502, undefined, "service_error", true],
    [503, "ServerOverloaded", "resource_exhausted", true],
    [undefined, "InternalServiceError", "service_error", true],
    [undefined, "OutputImageSensitiveContentDetected", "content_policy_violation", false],
  ] as const)("%s %s → %s (retryable %s)", (status, code, ours, retryable) => {
    const k = classifyArkError(status, code);
    expect(k.code).toBe(ours);
    expect(k.retryable).toBe(retryable);
    expect(k.message).not.toMatch(/Request ID|http/i);
  });

  it("HTTP errors never claim a charge and carry Retry-After only when retryable", () => {
    const e = arkHttpError(429, "RateLimitExceeded", "3");
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ mayHaveCharged: false, retryAfterMs: 3000 });
    expect(arkHttpError(400, "InvalidParameter", "3").retryAfterMs).toBeUndefined();
  });
});

describe("Retry-After (the shared parser ark uses)", () => {
  it("reads seconds and HTTP dates, rejects junk, caps at an hour", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("0.5", now)).toBe(500);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter("999999", now)).toBe(3_600_000);
  });
});

describe("arkTransportError", () => {
  it("never reached → retryable, nothing charged; otherwise may have charged", () => {
    const refused = Object.assign(new Error("x"), { cause: { code: "ECONNREFUSED" } });
    expect(arkTransportError(refused, false)).toMatchObject({
      code: "service_error",
      retryable: true,
      mayHaveCharged: false,
    });
    const reset = Object.assign(new Error("x"), { code: "UND_ERR_SOCKET" });
    expect(arkTransportError(reset, false)).toMatchObject({
      code: "service_error",
      retryable: false,
      mayHaveCharged: true,
    });
    expect(arkTransportError(new Error("aborted"), true)).toMatchObject({
      code: "generation_timeout",
      retryable: false,
      mayHaveCharged: true,
    });
  });
});

const channel = (options: Record<string, unknown> = {}, upstreamModel = "seedream-4-0-250828") =>
  readArkChannel({
    id: "c",
    provider: "ark",
    baseUrl: "http://upstream",
    apiKey: "k",
    upstreamModel,
    timeoutMs: 1000,
    options,
  });

describe("buildArkBody", () => {
  it("maps every field, with watermark explicit and false by default", () => {
    const body = buildArkBody(genReq({ n: 4, promptPriority: "fast" }), channel(), []);
    expect(body).toEqual({
      model: "seedream-4-0-250828",
      prompt: "a serene lake at sunset",
      size: "1024x1024",
      sequential_image_generation: "auto",
      sequential_image_generation_options: { max_images: 4 },
      optimize_prompt_options: { mode: "fast" },
      watermark: false,
      response_format: "b64_json",
      stream: true,
    });
  });

  it("honours the channel options", () => {
    const body = buildArkBody(
      genReq(),
      channel({ watermark: true, response_format: "url", stream: false }),
      [],
    );
    expect(body).toMatchObject({ watermark: true, response_format: "url", stream: false });
  });

  it("passes seedream 5.0 lite output_format and tools, and never fast to 5.0", () => {
    const body = buildArkBody(
      genReq({
        promptPriority: "fast",
        modelParams: { output_format: "png", tools: [{ type: "web_search" }] },
      }),
      channel({}, "doubao-seedream-5-0-260128"),
      [],
    );
    expect(body.output_format).toBe("png");
    expect(body.tools).toEqual([{ type: "web_search" }]);
    expect(body.optimize_prompt_options).toBeUndefined();
  });

  it("sizes: tier, 3K, ratio, pixels, auto", () => {
    expect(arkSize({ kind: "tier", tier: "4K", width: 4096, height: 4096 })).toBe("4K");
    expect(arkSize({ kind: "tier", tier: "3K", width: 3072, height: 3072 })).toBe("3072x3072");
    expect(arkSize({ kind: "ratio", ratio: "9:16", quality: "1K", width: 720, height: 1280 })).toBe(
      "720x1280",
    );
    expect(arkSize({ kind: "pixels", width: 1500, height: 1000 })).toBe("1500x1000");
    expect(arkSize({ kind: "auto", width: 2048, height: 2048 })).toBe("2048x2048");
  });

  it("rejects a channel without model id or with bad options", () => {
    expect(() => channel({ response_format: "png" })).toThrow(ProviderError);
    expect(() => channel({}, "")).toThrow(ProviderError);
  });
});

describe("Ark answers", () => {
  it("parses SSE events by their JSON type, or the event line", () => {
    expect(
      parseArkStreamEvent({
        event: "image_generation.partial_succeeded",
        data: JSON.stringify({ image_index: 2, b64_json: "AAAA", size: "1x1" }),
        id: undefined,
      }),
    ).toEqual({ kind: "item", item: { index: 2, kind: "image", b64: "AAAA", size: "1x1" } });
    expect(
      parseArkStreamEvent({
        event: undefined,
        data: JSON.stringify({
          type: "image_generation.partial_failed",
          image_index: 1,
          error: { code: "OutputImageSensitiveContentDetected", message: "m" },
        }),
        id: undefined,
      }),
    ).toEqual({
      kind: "item",
      item: { index: 1, kind: "failed", code: "OutputImageSensitiveContentDetected" },
    });
    expect(parseArkStreamEvent({ event: undefined, data: "[DONE]", id: undefined })).toEqual({
      kind: "done",
    });
    expect(
      parseArkStreamEvent({
        event: "error",
        data: JSON.stringify({ error: { code: "InternalServiceError" } }),
        id: undefined,
      }),
    ).toEqual({ kind: "error", code: "InternalServiceError" });
    expect(() => parseArkStreamEvent({ event: "x", data: "{nope", id: undefined })).toThrow(
      ArkProtocolError,
    );
  });

  it("parses the JSON answer, per-image errors in place", () => {
    const r = parseArkResult(
      JSON.stringify({
        data: [{ url: "http://x/a.jpeg", size: "2x2" }, { error: { code: "E", message: "m" } }],
        usage: { generated_images: 1 },
      }),
    );
    expect(r?.items).toEqual([
      { index: 0, kind: "image", url: "http://x/a.jpeg", size: "2x2" },
      { index: 1, kind: "failed", code: "E" },
    ]);
    expect(r?.usage?.generated_images).toBe(1);
    expect(parseArkResult("{")).toBeNull();
    expect(parseArkResult(JSON.stringify({ data: [{}] }))).toBeNull();
  });
});
