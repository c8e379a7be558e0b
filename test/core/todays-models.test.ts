/**
 * Today's built-in models at the edges of their documented rules (docs/models.md):
 * gpt-image-2, the Gemini image models, and the current Seedream versions. Each
 * bound is tried on both sides, through the one validator every model uses.
 */
import { describe, expect, it } from "vitest";
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import { validateGenerationRequest } from "../../src/core/validate.js";

const catalogue = new ModelCatalogue(BUILTIN_MODELS);
const check = (model: string, body: Record<string, unknown>) =>
  validateGenerationRequest({ model, prompt: "a cat", ...body }, catalogue);

function accepted(model: string, body: Record<string, unknown>) {
  const r = check(model, body);
  expect(r.ok, `${model} ${JSON.stringify(body)}: ${r.ok ? "" : r.error.message}`).toBe(true);
  return r.ok ? r.request : undefined!;
}
function refused(model: string, body: Record<string, unknown>): string | undefined {
  const r = check(model, body);
  expect(r.ok, `${model} ${JSON.stringify(body)}`).toBe(false);
  return r.ok ? undefined : r.error.param;
}
const urls = (k: number) => Array.from({ length: k }, (_, i) => `https://example.com/${i}.png`);

describe("gpt-image-2", () => {
  const m = "gpt-image-2";
  it("takes any WxH within its side and pixel rules", () => {
    for (const size of ["1024x1024", "3840x2160", "2160x3840", "2048x2048", "1024x640", "1008x672"])
      expect(accepted(m, { size }).size).toMatchObject({ kind: "pixels" });
    // 1024x640 is exactly 655,360 pixels; 3840x2160 exactly 8,294,400.
    expect(refused(m, { size: "1008x640" })).toBe("size"); // 645,120 px: too few
    expect(refused(m, { size: "3856x2160" })).toBe("size"); // longest side over 3840
    accepted(m, { size: "2880x2880" }); // 8,294,400: the most
    expect(refused(m, { size: "2896x2880" })).toBe("size"); // too many pixels
    expect(refused(m, { size: "1000x1000" })).toBe("size"); // not multiples of 16
    expect(accepted(m, { size: "2304x768" }).size).toMatchObject({ width: 2304 }); // 3:1 exactly
    expect(refused(m, { size: "2320x768" })).toBe("size"); // wider than 3:1
    expect(refused(m, { size: "768x2320" })).toBe("size"); // taller than 1:3
  });

  it("auto means 1024x1024 and goes as auto; ratios and tiers are not its forms", () => {
    expect(accepted(m, {}).size).toEqual({ kind: "auto", width: 1024, height: 1024 });
    for (const size of ["16:9", "2K", "4K"]) expect(refused(m, { size })).toBe("size");
  });

  it("its qualities, prompt, n and reference images", () => {
    for (const quality of ["low", "medium", "high", "auto"])
      expect(accepted(m, { quality }).quality).toBe(quality);
    expect(refused(m, { quality: "hd" })).toBe("quality");
    accepted(m, { prompt: "a".repeat(32_000) });
    expect(refused(m, { prompt: "a".repeat(32_001) })).toBe("prompt");
    accepted(m, { n: 10, image_urls: urls(16) });
    expect(refused(m, { n: 11 })).toBe("n");
    expect(refused(m, { image_urls: urls(17) })).toBe("image_urls");
  });

  it("its extra parameters: format, compression 0..100, no transparent background", () => {
    expect(accepted(m, {}).modelParams).toEqual({ output_format: "png" });
    expect(
      accepted(m, {
        model_params: { output_format: "webp", output_compression: 0, moderation: "low" },
      }).modelParams,
    ).toEqual({ output_format: "webp", output_compression: 0, moderation: "low" });
    accepted(m, { model_params: { output_compression: 100 } });
    expect(refused(m, { model_params: { output_compression: 101 } })).toBe(
      "model_params.output_compression",
    );
    expect(refused(m, { model_params: { output_compression: -1 } })).toBe(
      "model_params.output_compression",
    );
    expect(refused(m, { model_params: { output_compression: "50" } })).toBe(
      "model_params.output_compression",
    );
    expect(refused(m, { model_params: { background: "transparent" } })).toBe(
      "model_params.background",
    );
    expect(refused(m, { model_params: { toString: "x" } })).toBe("model_params.toString");
  });
});

describe("gemini-2.5-flash-image", () => {
  const m = "gemini-2.5-flash-image";
  it("one size per aspect ratio, at 1K only", () => {
    expect(accepted(m, { size: "16:9" }).size).toEqual({
      kind: "ratio",
      ratio: "16:9",
      quality: "1K",
      width: 1344,
      height: 768,
    });
    expect(accepted(m, { size: "21:9" }).size).toMatchObject({ width: 1536, height: 672 });
    expect(accepted(m, { size: "1K" }).size).toMatchObject({ width: 1024, height: 1024 });
    expect(refused(m, { size: "9:21" })).toBe("size"); // not one of its ratios
    expect(refused(m, { size: "1024x1024" })).toBe("size"); // no pixel form
    expect(refused(m, { size: "2K" })).toBe("size");
    expect(refused(m, { quality: "2K" })).toBe("quality");
    expect(accepted(m, {}).size).toEqual({ kind: "auto", width: 1024, height: 1024 });
  });

  it("up to 3 reference images and 4 images a task", () => {
    accepted(m, { image_urls: urls(3), n: 4 });
    expect(refused(m, { image_urls: urls(4) })).toBe("image_urls");
    expect(refused(m, { n: 5 })).toBe("n");
    expect(refused(m, { prompt_priority: "fast" })).toBe("prompt_priority");
  });
});

describe("gemini-3-pro-image-preview", () => {
  const m = "gemini-3-pro-image-preview";
  it("each aspect ratio at 1K, 2K and 4K; a tier alone is a square", () => {
    expect(accepted(m, { size: "16:9", quality: "4K" }).size).toMatchObject({
      width: 5504,
      height: 3072,
    });
    expect(accepted(m, { size: "3:4", quality: "4K" }).size).toMatchObject({
      width: 3584,
      height: 4800,
    });
    expect(accepted(m, { size: "2:3" }).size).toMatchObject({ width: 848, height: 1264 });
    expect(accepted(m, { size: "4K" }).size).toMatchObject({ width: 4096, height: 4096 });
    expect(refused(m, { size: "16:9", quality: "3K" })).toBe("quality");
    expect(refused(m, { size: "3K" })).toBe("size");
    expect(refused(m, { size: "5504x3072" })).toBe("size");
  });

  it("up to 14 reference images", () => {
    accepted(m, { image_urls: urls(14), n: 4 });
    expect(refused(m, { image_urls: urls(15) })).toBe("image_urls");
    accepted(m, { prompt: "a".repeat(64_000) });
    expect(refused(m, { prompt: "a".repeat(64_001) })).toBe("prompt");
  });
});

describe("the current Seedream versions", () => {
  it("4.5: 2K and 4K, at least 2560x1440", () => {
    const m = "doubao-seedream-4.5";
    accepted(m, { size: "2560x1440" });
    expect(refused(m, { size: "2544x1440" })).toBe("size");
    accepted(m, { size: "4096x4096" });
    expect(refused(m, { size: "4112x4096" })).toBe("size");
    expect(refused(m, { size: "1K" })).toBe("size");
    expect(accepted(m, { size: "16:9", quality: "4K" }).size).toMatchObject({ width: 5504 });
    accepted(m, { image_urls: urls(14), n: 1 });
    expect(refused(m, { image_urls: urls(14), n: 2 })).toBe("n"); // 15 in all at most
    expect(refused(m, { prompt_priority: "fast" })).toBe("prompt_priority");
  });

  it("5.0 lite: 2K, 3K and 4K; 16:9 at 3K is 4096x2304", () => {
    const m = "doubao-seedream-5.0-lite";
    expect(accepted(m, { size: "16:9", quality: "3K" }).size).toMatchObject({
      width: 4096,
      height: 2304,
    });
    expect(refused(m, { size: "16:9", quality: "1K" })).toBe("quality");
    expect(refused(m, { size: "1920x1080" })).toBe("size");
    accepted(m, { model_params: { output_format: "png" } });
  });

  it("4.0 keeps the whole of api.md's table and 1/16..16", () => {
    const m = "doubao-seedream-4.0";
    expect(accepted(m, { size: "9:21", quality: "1K" }).size).toMatchObject({ width: 648 });
    accepted(m, { size: "960x15360" }); // 1:16 exactly
    expect(refused(m, { size: "944x15360" })).toBe("size");
    const r = check(m, { size: "944x15360" });
    expect(!r.ok && r.error.message).toMatch(/outside 1:16 to 16:1/);
  });
});
