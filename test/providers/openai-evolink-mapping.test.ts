/** The pure parts of the openai and evolink providers: field maps, keys, Retry-After. */
import { describe, expect, it } from "vitest";
import { idempotencyKey } from "../../src/providers/evolink/api.js";
import { createEvolinkProvider } from "../../src/providers/evolink/index.js";
import { buildSubmitBody, parseTask, sizeText } from "../../src/providers/evolink/request.js";
import { mapOpenAIError } from "../../src/providers/openai/errors.js";
import { createOpenAIProvider } from "../../src/providers/openai/index.js";
import { buildCall } from "../../src/providers/openai/request.js";
import { parseRetryAfter } from "../../src/providers/http-faults.js";
import { normalised } from "../helpers/provider-context.js";

const channel = (over: Record<string, unknown> = {}) => ({
  id: "c",
  provider: "openai",
  timeoutMs: 1000,
  options: {},
  ...over,
});

describe("openai request map", () => {
  it("seedream sizes travel as their resolved pixels; tiers are not sent as quality", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ size: "16:9", quality: "2K" }, "2848x1600"],
      [{ size: "4K" }, "4096x4096"],
      [{ size: "auto" }, "2048x2048"],
      [{ size: "1920x1080" }, "1920x1080"],
    ];
    for (const [extra, size] of cases) {
      const req = normalised({ model: "doubao-seedream-4.0", prompt: "p", ...extra });
      const c = buildCall(req, channel({ upstreamModel: "my-seedream" }), 1, false);
      expect(c.fields, JSON.stringify(extra)).toEqual({
        model: "my-seedream",
        prompt: "p",
        n: 1,
        size,
        response_format: "b64_json",
      });
    }
  });

  it("dall-e-3 quality: high → hd, medium → standard, auto → left out", () => {
    const q = (quality: string) =>
      buildCall(
        normalised({ model: "gpt-image-1", prompt: "p", quality }),
        channel({ upstreamModel: "dall-e-3" }),
        1,
        false,
      ).fields.quality;
    expect([q("high"), q("medium"), q("low"), q("auto")]).toEqual([
      "hd",
      "standard",
      "standard",
      undefined,
    ]);
  });

  it("edits use image[] (image for dall-e-2)", () => {
    const req = normalised({ model: "gpt-image-1", prompt: "p" });
    expect(buildCall(req, channel(), 1, true)).toMatchObject({
      endpoint: "edits",
      imageField: "image[]",
    });
    expect(buildCall(req, channel({ upstreamModel: "dall-e-2" }), 1, true).imageField).toBe(
      "image",
    );
  });

  it("an unreadable error body still maps by status", () => {
    expect(mapOpenAIError(400, "<html>").code).toBe("invalid_parameters");
    expect(mapOpenAIError(502, "").code).toBe("service_error");
    expect(mapOpenAIError(418, "{}").retryable).toBe(true);
  });

  it("validates its channel options", () => {
    const p = createOpenAIProvider();
    expect(() => p.validateChannel!({ options: { response_format: "png" } })).toThrow(
      /response_format/,
    );
    expect(() => p.validateChannel!({ options: {} })).not.toThrow();
  });
});

describe("evolink request map", () => {
  it("size goes back in the form the caller used", () => {
    const s = (size: string) =>
      sizeText(normalised({ model: "doubao-seedream-4.0", prompt: "p", size }).size);
    expect(["auto", "16:9", "4K", "1920x1080"].map(s)).toEqual(["auto", "16:9", "4K", "1920x1080"]);
  });

  it("submits the public fields, no callback", () => {
    const req = normalised({
      model: "doubao-seedream-5.0-lite",
      prompt: "p",
      callback_url: "https://example.com/cb",
    });
    expect(buildSubmitBody(req, channel())).toEqual({
      model: "doubao-seedream-5.0-lite",
      prompt: "p",
      n: 1,
      size: "auto",
      quality: "2K",
      prompt_priority: "standard",
      model_params: { output_format: "jpeg" },
    });
  });

  it("idempotency keys only use the allowed characters and fit 128", () => {
    expect(idempotencyKey("task-unified-1-abc", "ch/1 é")).toBe(
      "darkroom:task-unified-1-abc:ch_1__",
    );
    expect(idempotencyKey("t", "x".repeat(300))).toHaveLength(128);
  });

  it("task views: garbage and unknown statuses are not tasks", () => {
    expect(parseTask(Buffer.from("nope"))).toBeNull();
    expect(parseTask(Buffer.from('{"id":"t","status":"cancelled"}'))).toBeNull();
    expect(
      parseTask(
        Buffer.from(
          '{"id":"t","status":"completed","progress":100,"results":["http://h/1.jpg",3,"ftp://x"]}',
        ),
      ),
    ).toEqual({
      id: "t",
      status: "completed",
      progress: 100,
      results: ["http://h/1.jpg"],
      errorCode: null,
    });
  });

  it("requires a base URL and a sane poll interval", () => {
    const p = createEvolinkProvider();
    expect(() => p.validateChannel!({ baseUrl: null, options: {} })).toThrow(/base_url/);
    expect(() =>
      p.validateChannel!({ baseUrl: "http://x", options: { poll_interval_ms: 1 } }),
    ).toThrow(/poll_interval_ms/);
    expect(() => p.validateChannel!({ baseUrl: "http://x", options: {} })).not.toThrow();
  });
});

describe("parseRetryAfter", () => {
  it("reads retry-after-ms, seconds and HTTP dates; ignores garbage; caps at an hour", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter({ "retry-after-ms": "250" }, now)).toBe(250);
    expect(parseRetryAfter({ "retry-after": "2" }, now)).toBe(2000);
    expect(parseRetryAfter({ "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }, now)).toBe(5000);
    expect(parseRetryAfter({ "retry-after": "soon" }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
    expect(parseRetryAfter({ "retry-after": "999999" }, now)).toBe(3_600_000);
  });
});
