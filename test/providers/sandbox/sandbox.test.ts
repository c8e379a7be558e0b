import sharp from "sharp";
import { describe, expect, it } from "vitest";
import type { GenerationRequest } from "../../../src/core/types.js";
import { ProviderError } from "../../../src/providers/contract.js";
import { parseSandboxDirectives } from "../../../src/providers/sandbox/directives.js";
import { createSandboxProvider } from "../../../src/providers/sandbox/index.js";
import { renderSandboxImage } from "../../../src/providers/sandbox/render.js";
import { fakeContext } from "../../helpers/provider-context.js";

const sandboxContext = () => fakeContext({ provider: "sandbox", id: "sandbox", timeoutMs: 1000 });

const base = { prompt: "a red fox", index: 0, total: 1, model: "doubao-seedream-4.0" };

describe("renderSandboxImage", () => {
  it("renders JPEGs at exactly the requested size, up to 4K and 21:9 4K", async () => {
    for (const [width, height] of [
      [1280, 720],
      [648, 1512],
      [4096, 4096],
      [6240, 2656],
    ] as const) {
      const jpeg = await renderSandboxImage({ ...base, width, height });
      expect(jpeg.subarray(0, 3).toString("hex")).toBe("ffd8ff");
      const meta = await sharp(jpeg).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", width, height]);
    }
  });

  it("is deterministic for (prompt, index) and differs across them", async () => {
    const a = await renderSandboxImage({ ...base, width: 1024, height: 1024 });
    const c = await renderSandboxImage({ ...base, index: 1, width: 1024, height: 1024 });
    const d = await renderSandboxImage({
      ...base,
      prompt: "a blue fox",
      width: 1024,
      height: 1024,
    });
    // After other frames of the same size: nothing of theirs is left in a reused buffer.
    const b = await renderSandboxImage({ ...base, width: 1024, height: 1024 });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.equals(d)).toBe(false);
  });

  it("draws text on the image (the label is not a blank gradient)", async () => {
    const img = await renderSandboxImage({ ...base, width: 1024, height: 1024 });
    // The centre band holds the white label; bright pixels exist there, not in a plain gradient.
    const { data } = await sharp(img)
      .extract({ left: 112, top: 380, width: 800, height: 120 })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const bright = [...data].filter((v) => v > 230).length;
    expect(bright).toBeGreaterThan(1000);
  });

  it("shows reference images as a thumbnail strip", async () => {
    const ref = await sharp({
      create: { width: 64, height: 64, channels: 3, background: "#ff0000" },
    })
      .png()
      .toBuffer();
    const without = await renderSandboxImage({ ...base, width: 1024, height: 1024 });
    const withRef = await renderSandboxImage({
      ...base,
      width: 1024,
      height: 1024,
      references: [{ data: ref, width: 64, height: 64 }],
    });
    expect(withRef.equals(without)).toBe(false);
    const { data } = await sharp(withRef)
      .extract({ left: 50, top: 900, width: 60, height: 60 })
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(data[0]).toBeGreaterThan(200); // red thumbnail
    expect(data[1]).toBeLessThan(60);
  });

  it("keeps the event loop free while rendering 4K", async () => {
    let ticks = 0;
    let done = false;
    const render = renderSandboxImage({ ...base, width: 4096, height: 4096 }).finally(
      () => (done = true),
    );
    while (!done) {
      await new Promise((r) => setImmediate(r));
      ticks += 1;
    }
    await render;
    expect(ticks).toBeGreaterThan(20);
  });
});

describe("sandbox directives", () => {
  it("parses fail, generate and delay, ignoring malformed ones", () => {
    expect(
      parseSandboxDirectives(
        "x [sandbox:fail=content_policy_violation] [sandbox:generate=2] [sandbox:delay=10]",
      ),
    ).toEqual({
      fail: "content_policy_violation",
      generate: 2,
      delayMs: 10,
    });
    expect(
      parseSandboxDirectives("[sandbox:fail=nope] [sandbox:delay=9999999] [sandbox:generate=-1]"),
    ).toEqual({});
  });
});

const req = (prompt: string, n: number): GenerationRequest => ({
  model: "doubao-seedream-4.0",
  prompt,
  n,
  size: { kind: "tier", tier: "1K", width: 1024, height: 1024 },
  quality: "1K",
  promptPriority: "standard",
  imageUrls: [],
  callbackUrl: null,
  modelParams: {},
});

describe("sandbox provider", () => {
  const provider = createSandboxProvider({ durationMs: 40 });

  it("delivers n images in order with monotonic progress below 100", async () => {
    const c = sandboxContext();
    const { images, progress } = c;
    const out = await provider.generate(req("p", 3), c);
    expect(out).toEqual({ generated: 3, failures: [] });
    expect(images.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(progress.length).toBeGreaterThan(3);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(Math.max(...progress)).toBeLessThan(100);
  });

  it("partial generation reports the missing images as failures", async () => {
    const c = sandboxContext();
    const { images } = c;
    const out = await provider.generate(req("p [sandbox:generate=1]", 3), c);
    expect(out.generated).toBe(1);
    expect(images).toHaveLength(1);
    expect(out.failures.map((f) => [f.index, f.code])).toEqual([
      [1, "content_policy_violation"],
      [2, "content_policy_violation"],
    ]);
  });

  it("a fail directive throws a ProviderError with that code", async () => {
    const c = sandboxContext();
    const err = await provider
      .generate(req("p [sandbox:fail=service_error]", 1), c)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).code).toBe("service_error");
  });

  it("an abort stops it promptly and delivers nothing more", async () => {
    const c = sandboxContext();
    const { images } = c;
    const run = provider.generate(req("p [sandbox:delay=60000]", 2), c);
    setTimeout(() => c.controller.abort(new Error("stop")), 20);
    await expect(run).rejects.toThrow("stop");
    expect(images).toHaveLength(0);
  });
});
