/**
 * The `gemini` provider against its loopback emulator: the request it sends (key
 * header, parts, imageConfig), images decoded from inline base64, fewer images than
 * asked, every error class of the mapping, block and finish reasons, slowness,
 * a hang, a reset, malformed JSON, and a cancel mid-call.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/providers/contract.js";
import { createGeminiProvider } from "../../../src/providers/gemini/index.js";
import { nearestRatio } from "../../../src/providers/gemini/request.js";
import { TaskAbort } from "../../../src/runner/runner.js";
import { startGeminiEmulator, type GeminiEmulator } from "../../emulators/gemini.js";
import { fakeContext, normalised } from "../../helpers/provider-context.js";

let emu: GeminiEmulator;
const provider = createGeminiProvider();
beforeAll(async () => {
  emu = await startGeminiEmulator();
});
afterAll(() => emu.close());

const ctxFor = (over: Record<string, unknown> = {}, refs: Parameters<typeof fakeContext>[1] = {}) =>
  fakeContext({ provider: "gemini", baseUrl: emu.url, apiKey: emu.apiKey, ...over }, refs);
const flash = (prompt: string, extra: Record<string, unknown> = {}) =>
  normalised({ model: "gemini-2.5-flash-image", prompt, ...extra });
const pro = (prompt: string, extra: Record<string, unknown> = {}) =>
  normalised({ model: "gemini-3-pro-image-preview", prompt, ...extra });
const lastFor = (prompt: string) => emu.requests.filter((r) => r.prompt === prompt);

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe("gemini provider: success", () => {
  it("one image: the key in x-goog-api-key, the ratio as aspectRatio, bytes from inlineData", async () => {
    const ctx = ctxFor();
    const out = await provider.generate(flash("a red fox #ok1", { size: "16:9" }), ctx);
    expect(out).toEqual({ generated: 1, failures: [] });
    const r = lastFor("a red fox #ok1")[0]!;
    expect(r.model).toBe("gemini-2.5-flash-image");
    expect(r.headers["x-goog-api-key"]).toBe(emu.apiKey);
    expect(r.path).not.toContain("key=");
    expect(r.body).toEqual({
      contents: [{ role: "user", parts: [{ text: "a red fox #ok1" }] }],
      generationConfig: {
        responseModalities: ["TEXT", "IMAGE"],
        imageConfig: { aspectRatio: "16:9" },
      },
    });
    expect(ctx.images[0]).toMatchObject({
      index: 0,
      contentType: "image/png",
      width: 1344,
      height: 768,
    });
    const meta = await sharp(ctx.images[0]!.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 1344, 768]);
    expect(ctx.progress.at(-1)).toBe(100);
  });

  it("n images are n calls; 2K goes as imageSize; the channel's upstream model is used", async () => {
    const ctx = ctxFor({ upstreamModel: "gemini-3-pro-image-preview" });
    const out = await provider.generate(
      pro("three owls #ok2", { n: 3, size: "3:4", quality: "2K" }),
      ctx,
    );
    expect(out).toEqual({ generated: 3, failures: [] });
    const calls = lastFor("three owls #ok2");
    expect(calls).toHaveLength(3);
    expect(calls[0]!.body!.generationConfig).toEqual({
      responseModalities: ["TEXT", "IMAGE"],
      imageConfig: { aspectRatio: "3:4", imageSize: "2K" },
    });
    expect(ctx.images.map((i) => [i.index, i.width, i.height])).toEqual([
      [0, 1792, 2400],
      [1, 1792, 2400],
      [2, 1792, 2400],
    ]);
    expect(ctx.progress).toEqual([33, 66, 100]);
  });

  it("reference images go inline before the text; auto sends no aspect ratio", async () => {
    const png = await sharp({ create: { width: 90, height: 160, channels: 3, background: "#a33" } })
      .png()
      .toBuffer();
    const jpg = await sharp(png).jpeg().toBuffer();
    const ctx = ctxFor(
      {},
      {
        referenceImages: [
          { data: png, contentType: "image/png", width: 90, height: 160 },
          { data: jpg, contentType: "image/jpeg", width: 90, height: 160 },
        ],
      },
    );
    await provider.generate(flash("merge these #ref"), ctx);
    const r = lastFor("merge these #ref")[0]!;
    expect(r.images).toEqual([
      { mimeType: "image/png", bytes: png.length },
      { mimeType: "image/jpeg", bytes: jpg.length },
    ]);
    const parts = (r.body!.contents as Array<{ parts: unknown[] }>)[0]!.parts;
    expect(parts[0]).toEqual({
      inline_data: { mime_type: "image/png", data: png.toString("base64") },
    });
    expect(parts[2]).toEqual({ text: "merge these #ref" });
    expect(r.body!.generationConfig).toEqual({ responseModalities: ["TEXT", "IMAGE"] });
    // The model followed the first reference's shape (9:16).
    expect(ctx.images[0]).toMatchObject({ width: 768, height: 1344 });
  });

  it("fewer images than asked: the missing ones are per-image failures, the rest kept", async () => {
    const ctx = ctxFor();
    const prompt = "four foxes [gemini:images=2] #few";
    const out = await provider.generate(flash(prompt, { n: 4 }), ctx);
    expect(out.generated).toBe(2);
    expect(out.failures).toEqual([
      expect.objectContaining({ index: 2, code: "generation_failed_no_content" }),
      expect.objectContaining({ index: 3, code: "generation_failed_no_content" }),
    ]);
    expect(ctx.images.map((i) => i.index)).toEqual([0, 1]);
    expect(lastFor(prompt)).toHaveLength(4);
  });

  it("a pixel size (a config-declared model) goes as the nearest ratio", () => {
    expect(nearestRatio(1920, 1080)).toBe("16:9");
    expect(nearestRatio(1000, 1000)).toBe("1:1");
    expect(nearestRatio(600, 1400)).toBe("9:16");
    expect(nearestRatio(2400, 1000)).toBe("21:9");
  });
});

describe("gemini provider: errors", () => {
  const cases: Array<[string, string, boolean]> = [
    ["[gemini:error=400]", "invalid_parameters", false],
    ["[gemini:error=403]", "service_unavailable", true],
    ["[gemini:error=404]", "service_unavailable", true],
    ["[gemini:error=429]", "resource_exhausted", true],
    ["[gemini:error=500]", "service_error", true],
    ["[gemini:error=503]", "service_error", true],
    ["[gemini:error=504]", "generation_timeout", true],
    ["[gemini:block=PROHIBITED_CONTENT]", "content_policy_violation", false],
    ["[gemini:block=SAFETY]", "content_policy_violation", false],
    ["[gemini:finish=IMAGE_SAFETY]", "content_policy_violation", false],
    ["[gemini:finish=IMAGE_PROHIBITED_CONTENT]", "content_policy_violation", false],
    ["[gemini:finish=SAFETY]", "content_policy_violation", false],
    ["[gemini:finish=NO_IMAGE]", "generation_failed_no_content", false],
    ["[gemini:words]", "generation_failed_no_content", false],
    ["[gemini:malformed]", "service_error", true],
    ["[gemini:reset]", "service_error", true],
  ];
  for (const [directive, code, retryable] of cases) {
    it(`${directive} → ${code}`, async () => {
      const err = await failure(provider.generate(flash(`x ${directive}`), ctxFor()));
      expect([err.code, err.retryable]).toEqual([code, retryable]);
      expect(err.message).not.toMatch(/googleapis|127\.0\.0\.1|Resource has been|emu/);
    });
  }

  it("429 carries Google's RetryInfo delay for routing to back off", async () => {
    const err = await failure(provider.generate(flash("x [gemini:error=429,retry=37]"), ctxFor()));
    expect(err.retryAfterMs).toBe(37_000);
    expect(err.mayHaveCharged).toBe(false);
  });

  it("a wrong key (400 API_KEY_INVALID) and no key at all are the channel's problem", async () => {
    const wrong = await failure(
      provider.generate(flash("x #wrongkey"), ctxFor({ apiKey: "nope" })),
    );
    expect([wrong.code, wrong.retryable]).toEqual(["service_unavailable", true]);
    const none = await failure(provider.generate(flash("x #nokey"), ctxFor({ apiKey: undefined })));
    expect([none.code, none.retryable]).toEqual(["service_unavailable", true]);
  });

  it("a safety block after some images ends only that image; an error ends the set", async () => {
    const ctx = ctxFor();
    // images=1: the second call answers in words; then the third is still asked.
    const out = await provider.generate(flash("x [gemini:images=1] #mixed", { n: 3 }), ctx);
    expect(out.generated).toBe(1);
    expect(out.failures.map((f) => f.index)).toEqual([1, 2]);
  });

  it("slower than the channel timeout → generation_timeout, may have charged", async () => {
    const err = await failure(
      provider.generate(flash("x [gemini:delay=2000]"), ctxFor({ timeoutMs: 300 })),
    );
    expect([err.code, err.mayHaveCharged]).toEqual(["generation_timeout", true]);
  });

  it("nothing listening → service_unavailable, not charged", async () => {
    const err = await failure(
      provider.generate(flash("x"), ctxFor({ baseUrl: "http://127.0.0.1:9" })),
    );
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([
      "service_unavailable",
      true,
      false,
    ]);
  });

  it("a cancel mid-call rejects with the runner's abort reason and delivers nothing", async () => {
    const ctx = ctxFor();
    const seen = new Promise<void>((resolve) => {
      const on = (r: { prompt?: string }) => {
        if (r.prompt?.includes("#cancel")) {
          emu.events.off("request", on);
          resolve();
        }
      };
      emu.events.on("request", on);
    });
    const run = provider.generate(flash("x [gemini:hang] #cancel"), ctx);
    await seen;
    ctx.cancel();
    await expect(run).rejects.toBeInstanceOf(TaskAbort);
    expect(ctx.images).toHaveLength(0);
    expect(provider.canCancel).toBe(false);
    expect(provider.safeToRepeat).toBe(false);
  });
});

describe("gemini channel settings", () => {
  it("refuses a bad api_version or max_image_bytes, naming the option", () => {
    expect(() => provider.validateChannel!({ options: { api_version: "beta" } })).toThrow(
      /options\.api_version/,
    );
    expect(() => provider.validateChannel!({ options: { max_image_bytes: -1 } })).toThrow(
      /options\.max_image_bytes/,
    );
    expect(() => provider.validateChannel!({ upstreamModel: "a b", options: {} })).toThrow(
      /upstream_model/,
    );
    expect(() => provider.validateChannel!({ options: { api_version: "v1" } })).not.toThrow();
  });
});
