/**
 * The sandbox renderer draws whatever text it is given (control characters, lone
 * surrogates, noncharacters, markup, emoji, RTL) and encodes the format the request
 * asks for (`model_params.output_format`).
 */
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import type { GenerationRequest } from "../../../src/core/types.js";
import { createSandboxProvider } from "../../../src/providers/sandbox/index.js";
import { fakeContext } from "../../helpers/provider-context.js";
import { drawableText, shownText } from "../../../src/providers/sandbox/label-text.js";
import {
  RENDERS_AT_ONCE,
  renderSandboxImage,
  sandboxFormat,
  sandboxRenders,
} from "../../../src/providers/sandbox/render.js";

const sandboxContext = () => fakeContext({ provider: "sandbox", id: "sandbox", timeoutMs: 1000 });

const base = { index: 0, total: 1, model: "doubao-seedream-4.0", width: 320, height: 240 };

/** One 320x240 image of doubao-seedream-4.0, with `over` on top. */
const request = (over: Partial<GenerationRequest>): GenerationRequest => ({
  model: "doubao-seedream-4.0",
  prompt: "p",
  n: 1,
  size: { kind: "pixels", width: 320, height: 240 },
  quality: "1K",
  promptPriority: "standard",
  imageUrls: [],
  callbackUrl: null,
  modelParams: {},
  ...over,
});

describe("drawableText", () => {
  it("drops controls and noncharacters, turns line breaks into spaces, marks lone surrogates", () => {
    expect(drawableText("a\u0000b\u0001c\u001fd\u007fe\u0085f\u009fg")).toBe("abcdefg");
    expect(drawableText("one\ttwo\r\nthree\n\nfour")).toBe("one two three four");
    expect(drawableText("x\ud800y\udc00z")).toBe("x\ufffdy\ufffdz");
    expect(drawableText("p\ufffeq\uffffr\ufdd0s\u{1fffe}t\u{10ffff}u")).toBe("pqrstu");
  });

  it("keeps everything drawable as it is", () => {
    const fine =
      "🦊 ש́לום مرحبا <b>&amp; \u200b\u202e ‘quotes’ \u{1f468}\u200d\u{1f469}\u200d\u{1f467} \ue000";
    expect(drawableText(fine)).toBe(fine);
  });

  it("cuts by code point, never inside a surrogate pair", () => {
    expect(shownText("🦊🦊🦊", 2)).toBe("🦊🦊…");
    expect(shownText("\u0000\u0001", 5)).toBe("");
  });
});

describe("renderSandboxImage with hostile text", () => {
  const prompts = {
    nul: "a\u0000b",
    c0: "a\u0001b\u001fc\u0008d",
    onlyControls: "\u0000\u0001\u0002",
    noInk: " \u200b\u3000\u2028\u00a0",
    loneSurrogates: "a\ud800b\udc00c\udbff",
    noncharacters: "a\ufffeb\uffffc",
    emoji: "🦊 a fox 👨‍👩‍👧",
    rtl: "שלום עולם مرحبا بالعالم",
    markup: "<b>&amp;</b> <span foreground='red'>x</span> & < > \" '",
    unclosedEntity: "&#0; &#x0; &bogus",
  };

  for (const [name, prompt] of Object.entries(prompts)) {
    it(`renders a prompt with ${name}`, async () => {
      const jpeg = await renderSandboxImage({ ...base, prompt, model: `m${prompt}` });
      const meta = await sharp(jpeg).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 320, 240]);
    });
  }
});

describe("output format", () => {
  it("maps output_format to an encoding; JPEG unless png or webp is asked", () => {
    expect(sandboxFormat(undefined, 100, 100)).toBe("jpeg");
    expect(sandboxFormat("jpeg", 100, 100)).toBe("jpeg");
    expect(sandboxFormat("gif", 100, 100)).toBe("jpeg");
    expect(sandboxFormat("png", 100, 100)).toBe("png");
    expect(sandboxFormat("webp", 100, 100)).toBe("webp");
    // WebP cannot hold a side over 16383 pixels.
    expect(sandboxFormat("webp", 16384, 1024)).toBe("png");
  });

  it("encodes PNG and WebP at the exact size", async () => {
    const png = await renderSandboxImage({ ...base, prompt: "p", format: "png" });
    expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    const webp = await renderSandboxImage({ ...base, prompt: "p", format: "webp" });
    expect(webp.subarray(8, 12).toString("latin1")).toBe("WEBP");
    for (const [img, format] of [
      [png, "png"],
      [webp, "webp"],
    ] as const) {
      const meta = await sharp(img).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([format, 320, 240]);
    }
  });

  it("the provider completes a prompt the API would refuse (NUL, C0, lone surrogate)", async () => {
    // Tasks can reach the provider without today's validation (e.g. stored by an older
    // version); the sandbox must still deliver.
    const c = sandboxContext();
    const { images } = c;
    const out = await createSandboxProvider({ durationMs: 0 }).generate(
      request({ prompt: "a\u0000b\u0001c\u001fd\ud800e" }),
      c,
    );
    expect(out).toEqual({ generated: 1, failures: [] });
    expect(images[0]!.contentType).toBe("image/jpeg");
  });

  it("the provider hands over PNG with image/png when model_params asks", async () => {
    const c = sandboxContext();
    const { images } = c;
    const req = (modelParams: Record<string, unknown>): GenerationRequest =>
      request({
        model: "doubao-seedream-5.0-lite",
        prompt: "p",
        size: { kind: "pixels", width: 640, height: 480 },
        quality: "2K",
        modelParams,
      });
    const provider = createSandboxProvider({ durationMs: 0 });
    await provider.generate(req({ output_format: "png" }), c);
    await provider.generate(req({ output_format: "jpeg" }), c);
    expect(images.map((i) => i.contentType)).toEqual(["image/png", "image/jpeg"]);
    expect(images[0]!.data.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(images[1]!.data.subarray(0, 3).toString("hex")).toBe("ffd8ff");
  });
});

describe("render slots", () => {
  it(`runs at most ${RENDERS_AT_ONCE} renders at once in the process`, async () => {
    let most = 0;
    let queued = 0;
    let done = false;
    const renders = Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        renderSandboxImage({ ...base, prompt: `p${i}`, width: 1024, height: 1024 }),
      ),
    ).finally(() => (done = true));
    while (!done) {
      most = Math.max(most, sandboxRenders.active);
      queued = Math.max(queued, sandboxRenders.waiting);
      await new Promise((r) => setImmediate(r));
    }
    expect((await renders).length).toBe(6);
    expect(most).toBe(RENDERS_AT_ONCE);
    expect(queued).toBe(6 - RENDERS_AT_ONCE);
    expect([sandboxRenders.active, sandboxRenders.waiting]).toEqual([0, 0]);
  });
});
