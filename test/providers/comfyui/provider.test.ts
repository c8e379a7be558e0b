/**
 * The comfyui provider against the ComfyUI emulator (test/emulators/comfyui.ts), driven
 * through provider.generate with a fake GenerateContext.
 */
import net from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/providers/contract.js";
import { createComfyUiProvider } from "../../../src/providers/comfyui/index.js";
import { startComfyUiEmulator, type ComfyUiEmulator } from "../../emulators/comfyui.js";
import {
  fakeContext,
  fixedSeed,
  halfInvalid,
  request,
  txt2img,
  until,
  withReference,
} from "./fixtures.js";

let emu: ComfyUiEmulator;
beforeAll(async () => {
  emu = await startComfyUiEmulator();
});
afterAll(async () => {
  await emu.close();
});

let seed = 1000;
const provider = createComfyUiProvider({ randomSeed: () => ++seed });
const options = (extra: Record<string, unknown> = {}) => ({
  workflow: txt2img(),
  negative_prompt: "lowres",
  poll_interval_ms: 20,
  ...extra,
});
const graphOf = (prompt: string) =>
  emu.seen.prompts.filter((p) => JSON.stringify(p.graph).includes(prompt));

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe("comfyui provider", () => {
  it("generates one image at the requested size and reports monotonic progress", async () => {
    const { ctx, images, progress } = fakeContext({ baseUrl: emu.url, options: options() });
    const out = await provider.generate(request("a quiet harbour", 1, 640, 384), ctx);
    expect(out).toEqual({ generated: 1, failures: [] });
    expect(images).toHaveLength(1);
    const meta = await sharp(images[0]!.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 640, 384]);
    expect(images[0]).toMatchObject({
      index: 0,
      contentType: "image/png",
      width: 640,
      height: 384,
    });

    const [sent] = graphOf("a quiet harbour");
    expect(sent!.graph["5"]!.inputs).toMatchObject({ width: 640, height: 384, batch_size: 1 });
    expect(sent!.graph["7"]!.inputs.text).toBe("lowres");
    expect(typeof sent!.graph["3"]!.inputs.seed).toBe("number");
    expect(emu.seen.sockets).toContain(sent!.clientId);

    expect(progress.length).toBeGreaterThan(3);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress).size).toBeGreaterThan(3);
    expect(Math.max(...progress)).toBeLessThanOrEqual(99);
    expect(Math.max(...progress)).toBeGreaterThanOrEqual(90);
  });

  it("makes n images in one prompt when the template has {{batch_size}}", async () => {
    const { ctx, images } = fakeContext({ baseUrl: emu.url, options: options() });
    const out = await provider.generate(request("three boats", 3, 256, 256), ctx);
    expect(out.generated).toBe(3);
    expect(images.map((i) => i.index)).toEqual([0, 1, 2]);
    const sent = graphOf("three boats");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.graph["5"]!.inputs.batch_size).toBe(3);
    // Distinct images (the emulator tints each batch item).
    expect(images[0]!.data.equals(images[1]!.data)).toBe(false);
  });

  it("runs n prompts in turn, each with its own seed, when the template has no batch size", async () => {
    const { ctx, images, progress } = fakeContext({
      baseUrl: emu.url,
      options: options({ workflow: txt2img({ batch: false }) }),
    });
    const out = await provider.generate(request("two kites", 2, 320, 320), ctx);
    expect(out.generated).toBe(2);
    expect(images.map((i) => i.index)).toEqual([0, 1]);
    const sent = graphOf("two kites");
    expect(sent).toHaveLength(2);
    expect(sent[0]!.graph["3"]!.inputs.seed).not.toBe(sent[1]!.graph["3"]!.inputs.seed);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it("uploads reference images first and puts their names into {{image_N}}", async () => {
    const ref = await sharp({ create: { width: 32, height: 32, channels: 3, background: "#f00" } })
      .png()
      .toBuffer();
    const { ctx, images } = fakeContext({
      baseUrl: emu.url,
      options: options({ workflow: withReference() }),
      referenceImages: [{ data: ref, contentType: "image/png", width: 32, height: 32 }],
    });
    const out = await provider.generate(request("repaint the red square"), ctx);
    expect(out.generated).toBe(1);
    expect(images).toHaveLength(1);
    const upload = emu.seen.uploads.at(-1)!;
    expect(upload).toMatchObject({ bytes: ref.length, overwrite: "true" });
    const [sent] = graphOf("repaint the red square");
    expect(sent!.graph["10"]!.inputs.image).toBe(upload.name);

    // The template takes exactly one reference image.
    const none = fakeContext({ baseUrl: emu.url, options: options({ workflow: withReference() }) });
    const err = await rejection(provider.generate(request("no reference"), none.ctx));
    expect([err.code, err.retryable]).toEqual(["invalid_parameters", false]);
  });

  it("maps a graph ComfyUI rejects (node_errors) to invalid_parameters, not retryable", async () => {
    const { ctx } = fakeContext({ baseUrl: emu.url, options: options() });
    const err = await rejection(provider.generate(request("bad sampler [comfy:error=node]"), ctx));
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([
      "invalid_parameters",
      false,
      false,
    ]);
    expect(err.message).not.toMatch(/sampler_name|127\.0\.0\.1/);

    const unknown = txt2img();
    (unknown["8"] as { class_type: string }).class_type = "NotInstalledNode";
    const other = fakeContext({ baseUrl: emu.url, options: options({ workflow: unknown }) });
    expect((await rejection(provider.generate(request("x"), other.ctx))).code).toBe(
      "invalid_parameters",
    );
  });

  it("maps execution_error to a failure code, after the prompt was queued", async () => {
    const { ctx } = fakeContext({ baseUrl: emu.url, options: options() });
    const err = await rejection(provider.generate(request("crash [comfy:error=exec]"), ctx));
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual(["service_error", false, true]);
    const oom = fakeContext({ baseUrl: emu.url, options: options() });
    const e2 = await rejection(provider.generate(request("huge [comfy:error=oom]"), oom.ctx));
    expect([e2.code, e2.retryable]).toEqual(["resource_exhausted", true]);
  });

  it("falls back to polling /history when the websocket drops, and still completes", async () => {
    const { ctx, images } = fakeContext({ baseUrl: emu.url, options: options() });
    const out = await provider.generate(
      request("cut the line [comfy:ws-drop] [comfy:slow=20]", 2),
      ctx,
    );
    expect(out.generated).toBe(2);
    expect(images).toHaveLength(2);
  });

  it("fails with generation_timeout after the channel's time limit, and interrupts the GPU", async () => {
    const { ctx } = fakeContext({ baseUrl: emu.url, options: options(), timeoutMs: 400 });
    const err = await rejection(provider.generate(request("forever [comfy:hang]"), ctx));
    expect(err.code).toBe("generation_timeout");
    const [sent] = graphOf("forever [comfy:hang]");
    expect(emu.seen.interrupts).toContain(sent!.id);
  });

  it("cancels a queued prompt with a queue delete and a running one with an interrupt", async () => {
    const first = new AbortController();
    const second = new AbortController();
    const a = fakeContext({ baseUrl: emu.url, options: options(), signal: first.signal });
    const b = fakeContext({ baseUrl: emu.url, options: options(), signal: second.signal });
    const running = provider.generate(request("occupies the gpu [comfy:hang]"), a.ctx);
    await until(() => graphOf("occupies the gpu").length === 1);
    await emu.started(graphOf("occupies the gpu")[0]!.id);
    const queued = provider.generate(request("waits its turn"), b.ctx);
    await until(() => graphOf("waits its turn").length === 1);

    const cancelled = new Error("cancelled by the test");
    second.abort(cancelled);
    await expect(queued).rejects.toBe(cancelled);
    const waiting = graphOf("waits its turn")[0]!.id;
    expect(emu.seen.deletes).toContain(waiting);
    expect(emu.seen.interrupts).not.toContain(waiting);

    first.abort(cancelled);
    await expect(running).rejects.toBe(cancelled);
    const busy = graphOf("occupies the gpu")[0]!.id;
    expect(emu.seen.interrupts).toContain(busy);
    expect(emu.seen.deletes).not.toContain(busy);
  });

  it("a cancel while POST /prompt is in flight still removes the prompt from the GPU", async () => {
    const ctl = new AbortController();
    const { ctx } = fakeContext({ baseUrl: emu.url, options: options(), signal: ctl.signal });
    const pending = provider.generate(request("late answer [comfy:slow-answer] [comfy:hang]"), ctx);
    await until(() => graphOf("late answer").length === 1);
    const cancelled = new Error("cancelled mid-submit");
    ctl.abort(cancelled);
    await expect(pending).rejects.toBe(cancelled);
    const id = graphOf("late answer")[0]!.id;
    // Queued or already running by then: either way the GPU is freed.
    expect([...emu.seen.deletes, ...emu.seen.interrupts]).toContain(id);
  });

  it("reports images that cannot be downloaded as per-image failures", async () => {
    const { ctx, images } = fakeContext({ baseUrl: emu.url, options: options() });
    const out = await provider.generate(request("gone [comfy:view=404]", 2), ctx);
    expect(images).toHaveLength(0);
    expect(out.generated).toBe(0);
    expect(out.failures.map((f) => [f.index, f.code])).toEqual([
      [0, "service_error"],
      [1, "service_error"],
    ]);
    const junk = fakeContext({ baseUrl: emu.url, options: options() });
    const out2 = await provider.generate(request("garbled [comfy:view=junk]"), junk.ctx);
    expect(out2.failures.map((f) => f.code)).toEqual(["image_processing_error"]);
  });

  it("treats a 5xx and a refused connection as retryable, before anything was queued", async () => {
    const { ctx } = fakeContext({ baseUrl: emu.url, options: options() });
    const err = await rejection(provider.generate(request("overloaded [comfy:500]"), ctx));
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual(["service_error", true, false]);

    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    const down = fakeContext({ baseUrl: `http://127.0.0.1:${closed}`, options: options() });
    const e2 = await rejection(provider.generate(request("nobody home"), down.ctx));
    expect([e2.code, e2.retryable, e2.mayHaveCharged]).toEqual([
      "service_unavailable",
      true,
      false,
    ]);
    expect(e2.message).not.toContain(String(closed));
  });

  it("maps a reset connection, a truncated body and a 429 with Retry-After", async () => {
    const reset = fakeContext({ baseUrl: emu.url, options: options() });
    const e1 = await rejection(provider.generate(request("cut [comfy:reset]"), reset.ctx));
    expect([e1.code, e1.retryable]).toEqual(["service_unavailable", true]);
    const junk = fakeContext({ baseUrl: emu.url, options: options() });
    const e2 = await rejection(provider.generate(request("half [comfy:badjson]"), junk.ctx));
    expect([e2.code, e2.retryable]).toEqual(["service_error", true]);
    const busy = fakeContext({ baseUrl: emu.url, options: options() });
    const e3 = await rejection(provider.generate(request("busy [comfy:429]"), busy.ctx));
    expect([e3.code, e3.retryable, e3.retryAfterMs]).toEqual(["resource_exhausted", true, 7000]);
  });

  it("reports missing batch images as per-image failures (partial result)", async () => {
    const { ctx, images } = fakeContext({ baseUrl: emu.url, options: options() });
    const out = await provider.generate(request("only one of three [comfy:images=1]", 3), ctx);
    expect(out.generated).toBe(1);
    expect(images.map((i) => i.index)).toEqual([0]);
    expect(out.failures.map((f) => [f.index, f.code])).toEqual([
      [1, "generation_failed_no_content"],
      [2, "generation_failed_no_content"],
    ]);
  });

  it("fails a misconfigured channel as a retryable service_error", async () => {
    const { ctx } = fakeContext({ baseUrl: emu.url, options: { workflow: { "1": {} } } });
    const err = await rejection(provider.generate(request("x"), ctx));
    expect([err.code, err.retryable]).toEqual(["service_error", true]);
  });
});

describe("comfyui provider: what a real ComfyUI does that looks like success", () => {
  it("some outputs fail validation (200 with node_errors): invalid_parameters, nothing delivered, prompt removed", async () => {
    const { ctx, images } = fakeContext({
      baseUrl: emu.url,
      options: options({ workflow: halfInvalid() }),
    });
    const err = await rejection(provider.generate(request("half valid graph"), ctx));
    expect([err.code, err.retryable]).toEqual(["invalid_parameters", false]);
    expect(images).toHaveLength(0);
    // ComfyUI did queue the valid half; Darkroom took it off the GPU.
    const [sent] = graphOf("half valid graph");
    expect(sent).toBeDefined();
    await until(
      () => emu.seen.deletes.includes(sent!.id) || emu.seen.interrupts.includes(sent!.id),
    );
  });

  it("the emulator, like ComfyUI, answers 200 with node_errors and runs the valid output", async () => {
    const graph = JSON.parse(
      JSON.stringify(halfInvalid())
        .replace("{{prompt}}", "direct half")
        .replace(/"\{\{(width|height|batch_size|seed)\}\}"/g, "64"),
    ) as Record<string, unknown>;
    const r = await fetch(`${emu.url}/prompt`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: graph, client_id: "direct" }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      prompt_id: string;
      node_errors: Record<string, { dependent_outputs: string[] }>;
    };
    expect(Object.keys(body.node_errors)).toEqual(["20"]);
    expect(body.node_errors["20"]!.dependent_outputs).toEqual(["21"]);
    let outputs: Record<string, unknown> = {};
    const deadline = Date.now() + 5000;
    while (Object.keys(outputs).length === 0 && Date.now() < deadline) {
      const h = (await (await fetch(`${emu.url}/history/${body.prompt_id}`)).json()) as Record<
        string,
        { outputs: Record<string, unknown> }
      >;
      outputs = h[body.prompt_id]?.outputs ?? {};
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(Object.keys(outputs)).toEqual(["9"]);
  });

  it("a seed that does not reach the image: the second prompt is ComfyUI's cached file, not delivered or counted again", async () => {
    const { ctx, images } = fakeContext({
      baseUrl: emu.url,
      options: options({ workflow: fixedSeed(), deterministic: true }),
    });
    const out = await provider.generate(request("the same picture twice", 2), ctx);
    expect(out.generated).toBe(1);
    expect(out.failures).toEqual([
      expect.objectContaining({ index: 1, code: "generation_failed_no_content" }),
    ]);
    expect(images.map((i) => i.index)).toEqual([0]);
    // Two prompts went to ComfyUI; the second was all cache: the same output file, viewed once.
    const sent = graphOf("the same picture twice");
    expect(sent).toHaveLength(2);
    expect(JSON.stringify(sent[0]!.graph)).toBe(JSON.stringify(sent[1]!.graph));
    expect(emu.seen.views.filter((v) => v === emu.seen.views.at(-1))).toHaveLength(1);
  });

  it("with a seed that reaches the image, n prompts give n different images", async () => {
    const { ctx, images } = fakeContext({
      baseUrl: emu.url,
      options: options({ workflow: txt2img({ batch: false }) }),
    });
    const out = await provider.generate(request("two different pictures", 2), ctx);
    expect(out).toEqual({ generated: 2, failures: [] });
    expect(images[0]!.data.equals(images[1]!.data)).toBe(false);
  });
});
