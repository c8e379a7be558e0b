/**
 * gpt-image-2 through the `openai` provider against the emulator, which applies
 * gpt-image-2's own size rules: free WxH sizes travel as they are, its extra
 * parameters go as OpenAI names them, edits carry the reference images, and fewer
 * images than asked are reported per image (the charge follows what was delivered).
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenAIProvider } from "../../../src/providers/openai/index.js";
import { startOpenAIEmulator, type OpenAIEmulator } from "../../emulators/openai.js";
import { fakeContext, normalised } from "../../helpers/provider-context.js";

let emu: OpenAIEmulator;
const provider = createOpenAIProvider();
beforeAll(async () => {
  emu = await startOpenAIEmulator();
});
afterAll(() => emu.close());

const ctxFor = (refs: Parameters<typeof fakeContext>[1] = {}) =>
  fakeContext(
    { provider: "openai", baseUrl: emu.url, apiKey: emu.apiKey, upstreamModel: "gpt-image-2" },
    refs,
  );
const req = (prompt: string, extra: Record<string, unknown> = {}) =>
  normalised({ model: "gpt-image-2", prompt, ...extra });

describe("gpt-image-2 through the openai provider", () => {
  it("a 4K landscape: the WxH is sent as it is and the image comes back at that size", async () => {
    const ctx = ctxFor();
    const out = await provider.generate(
      req("a harbour", {
        size: "3840x2160",
        quality: "low",
        model_params: { output_format: "jpeg", output_compression: 40, moderation: "low" },
      }),
      ctx,
    );
    expect(out).toEqual({ generated: 1, failures: [] });
    expect(emu.requests.at(-1)!.json).toEqual({
      model: "gpt-image-2",
      prompt: "a harbour",
      n: 1,
      size: "3840x2160",
      quality: "low",
      output_format: "jpeg",
      output_compression: 40,
      moderation: "low",
    });
    expect(ctx.images[0]).toMatchObject({ contentType: "image/jpeg", width: 3840, height: 2160 });
  });

  it("auto goes as auto", async () => {
    const ctx = ctxFor();
    await provider.generate(req("a lamp"), ctx);
    expect(emu.requests.at(-1)!.json).toMatchObject({ size: "auto", quality: "auto" });
  });

  it("edits: reference images as image[] parts, with the size", async () => {
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: "#123" } })
      .png()
      .toBuffer();
    const ctx = ctxFor({
      referenceImages: [{ data: png, contentType: "image/png", width: 32, height: 32 }],
    });
    await provider.generate(req("recolour", { size: "1536x864" }), ctx);
    const r = emu.requests.at(-1)!;
    expect(r.path).toBe("/v1/images/edits");
    expect(r.form!.fields).toMatchObject({ model: "gpt-image-2", size: "1536x864" });
    expect(r.form!.images).toEqual([{ field: "image[]", type: "image/png", bytes: png.length }]);
    expect(ctx.images[0]).toMatchObject({ width: 1536, height: 864 });
  });

  it("fewer images than asked: the delivered ones count, the rest are failures", async () => {
    const ctx = ctxFor();
    const out = await provider.generate(req("three cats [openai:count=2]", { n: 3 }), ctx);
    expect(out.generated).toBe(2);
    expect(out.failures).toEqual([
      expect.objectContaining({ index: 2, code: "generation_failed_no_content" }),
    ]);
    expect(
      emu.requests.filter((r) => r.json?.prompt === "three cats [openai:count=2]"),
    ).toHaveLength(1);
  });
});
