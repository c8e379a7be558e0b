/**
 * gpt-image-1's own rules, applied by the same validator as every model: its size
 * presets, its quality values, its prompt limit and n range, reference images.
 */
import { describe, expect, it } from "vitest";
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import { validateGenerationRequest } from "../../src/core/validate.js";

const catalogue = new ModelCatalogue(BUILTIN_MODELS);
const check = (body: Record<string, unknown>) =>
  validateGenerationRequest({ model: "gpt-image-1", prompt: "a cat", ...body }, catalogue);

function rejected(body: Record<string, unknown>): string | undefined {
  const r = check(body);
  expect(r.ok, JSON.stringify(body)).toBe(false);
  return r.ok ? undefined : r.error.param;
}

describe("gpt-image-1 in the catalogue", () => {
  it("is listed with its price and owner", () => {
    const m = catalogue.get("gpt-image-1")!;
    expect(m).toMatchObject({ ownedBy: "openai", priceMicros: 4_000_000, maxN: 10 });
  });

  it("defaults: size auto (1024x1024), quality auto, png", () => {
    const r = check({});
    expect(r.ok && r.request).toMatchObject({
      n: 1,
      quality: "auto",
      size: { kind: "auto", width: 1024, height: 1024 },
      modelParams: { output_format: "png" },
    });
  });

  it("accepts each preset size and each of its qualities", () => {
    for (const size of ["1024x1024", "1536x1024", "1024x1536", "auto"]) {
      expect(check({ size }).ok, size).toBe(true);
    }
    for (const quality of ["low", "medium", "high", "auto"]) {
      const r = check({ quality });
      expect(r.ok && r.request.quality, quality).toBe(quality);
    }
    const r = check({ size: "1536x1024" });
    expect(r.ok && r.request.size).toEqual({ kind: "pixels", width: 1536, height: 1024 });
  });

  it("refuses seedream sizes and qualities with the right param", () => {
    for (const size of ["16:9", "1:1", "2K", "1K", "2048x2048", "1024X1024", "1792x1024", "x"])
      expect(rejected({ size }), size).toBe("size");
    for (const quality of ["2K", "hd", "standard", "HIGH", 3])
      expect(rejected({ quality }), String(quality)).toBe("quality");
  });

  it("prompt up to 32000 characters; n 1..10", () => {
    expect(check({ prompt: "a".repeat(32_000) }).ok).toBe(true);
    expect(rejected({ prompt: "a".repeat(32_001) })).toBe("prompt");
    expect(check({ n: 10 }).ok).toBe(true);
    expect(rejected({ n: 11 })).toBe("n");
    expect(rejected({ n: 0 })).toBe("n");
  });

  it("reference images up to 16; output_format and background model params", () => {
    const urls = (k: number) => Array.from({ length: k }, (_, i) => `https://example.com/${i}.png`);
    expect(check({ image_urls: urls(16), n: 10 }).ok).toBe(true);
    expect(rejected({ image_urls: urls(17) })).toBe("image_urls");
    const r = check({ model_params: { output_format: "webp", background: "transparent" } });
    expect(r.ok && r.request.modelParams).toEqual({
      output_format: "webp",
      background: "transparent",
    });
    expect(rejected({ model_params: { output_format: "gif" } })).toBe("model_params.output_format");
    expect(rejected({ prompt_priority: "fast" })).toBe("prompt_priority");
  });

  it("leaves the seedream models' rules unchanged", () => {
    const seed = (body: Record<string, unknown>) =>
      validateGenerationRequest({ model: "doubao-seedream-4.0", prompt: "p", ...body }, catalogue);
    expect(seed({ quality: "high" }).ok).toBe(false);
    expect(seed({ size: "16:9", quality: "1K" })).toMatchObject({
      ok: true,
      request: { size: { width: 1280, height: 720 } },
    });
    expect(seed({})).toMatchObject({ ok: true, request: { size: { width: 2048, height: 2048 } } });
  });
});
