/**
 * Through the real server: a comfyui channel in DARKROOM_CONFIG serves the model, the
 * task completes with the emulator's PNGs behind signed links, a rejected graph fails
 * the task with a refund, and a cancel interrupts the running prompt on the GPU. What a
 * real ComfyUI does that looks like success: a graph half refused (200 with node_errors)
 * fails invalid_parameters with a refund; a cached repeat is delivered and charged once.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tmpdir } from "node:os";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, waitForTask, type TestServer } from "../../helpers/server.js";
import { startComfyUiEmulator, type ComfyUiEmulator } from "../../emulators/comfyui.js";
import { fixedSeed, halfInvalid, txt2img, until } from "./fixtures.js";

let s: TestServer;
let emu: ComfyUiEmulator;

beforeAll(async () => {
  emu = await startComfyUiEmulator();
  const dir = mkdtempSync(path.join(tmpdir(), "comfy-e2e-"));
  const file = path.join(dir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({
      channels: [
        {
          id: "gpu-box",
          model: "doubao-seedream-4.0",
          provider: "comfyui",
          base_url: emu.url,
          timeout_ms: 20_000,
          options: { workflow: txt2img(), poll_interval_ms: 20 },
        },
        {
          id: "gpu-half-valid",
          model: "doubao-seedream-4.5",
          provider: "comfyui",
          base_url: emu.url,
          timeout_ms: 20_000,
          options: { workflow: halfInvalid(), poll_interval_ms: 20 },
        },
        {
          id: "gpu-fixed-seed",
          model: "doubao-seedream-5.0-lite",
          provider: "comfyui",
          base_url: emu.url,
          timeout_ms: 20_000,
          options: { workflow: fixedSeed(), deterministic: true, poll_interval_ms: 20 },
        },
      ],
      sandbox_fallback: false,
    }),
  );
  s = await startTestServer({ DARKROOM_CONFIG: file });
});
afterAll(async () => {
  await s?.stop();
  await emu?.close();
});

const submit = (prompt: string, n = 1) =>
  s.api("/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", prompt, n, size: "1:1", quality: "1K" },
  });

describe("comfyui through the gateway", () => {
  it("refuses to start with a bad workflow template, naming the channel and the fix", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "comfy-e2e-bad-"));
    const file = path.join(dir, "darkroom.json");
    const workflow = txt2img();
    (workflow["6"] as { inputs: Record<string, unknown> }).inputs.text = "fixed text";
    writeFileSync(
      file,
      JSON.stringify({
        channels: [
          {
            id: "gpu-bad",
            model: "doubao-seedream-4.0",
            provider: "comfyui",
            base_url: emu.url,
            options: { workflow },
          },
        ],
      }),
    );
    await expect(startTestServer({ DARKROOM_CONFIG: file })).rejects.toThrow(
      /channel "gpu-bad": comfyui: the workflow has no \{\{prompt\}\} placeholder/,
    );
  });

  it("completes a task with the GPU's images behind signed links", async () => {
    const sub = await submit("a lantern on a pier", 2);
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "completed", progress: 100 });
    expect(final.results).toHaveLength(2);
    for (const link of final.results as string[]) {
      const res = await fetch(link);
      expect(res.status).toBe(200);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["png", 1024, 1024]);
    }
    const sent = emu.seen.prompts.find((p) => JSON.stringify(p.graph).includes("a lantern"));
    expect(sent!.graph["5"]!.inputs).toMatchObject({ width: 1024, height: 1024, batch_size: 2 });
  });

  it("fails a task whose graph ComfyUI rejects with invalid_parameters, refunded", async () => {
    const sub = await submit("broken [comfy:error=node]");
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "failed", error: { code: "invalid_parameters" } });
    expect(final.usage.credits_used).toBe(0);
  });

  it("a cancel while the GPU is working interrupts the prompt", async () => {
    const sub = await submit("never ending [comfy:hang]");
    const id = sub.json.id as string;
    await until(() =>
      emu.seen.prompts.some((p) => JSON.stringify(p.graph).includes("never ending")),
    );
    const promptId = emu.seen.prompts.find((p) =>
      JSON.stringify(p.graph).includes("never ending"),
    )!.id;
    await emu.started(promptId);
    const c = await s.api(`/v1/tasks/${id}/cancel`, { method: "POST" });
    expect(c.status).toBeLessThan(300);
    const { final } = await waitForTask(s, id);
    expect(final).toMatchObject({ status: "failed", error: { code: "request_cancelled" } });
    await until(() => emu.seen.interrupts.includes(promptId));
  });

  it("a graph ComfyUI half refuses (200 with node_errors) fails invalid_parameters, refunded", async () => {
    const before = (await s.api("/v1/credits")).json.data.user.remaining_credits as number;
    const sub = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.5", prompt: "half refused graph" },
    });
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "failed", error: { code: "invalid_parameters" } });
    expect(final.usage.credits_used).toBe(0);
    expect((await s.api("/v1/credits")).json.data.user.remaining_credits).toBe(before);
  });

  it("one prompt per image with a seed that does not reach it: the cached repeat is charged once", async () => {
    const sub = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-5.0-lite", prompt: "cached twice", n: 2 },
    });
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "completed" });
    expect(final.results).toHaveLength(1);
    expect(final.usage.credits_used * 2).toBeCloseTo(final.usage.credits_reserved, 6);
    expect(
      emu.seen.prompts.filter((p) => JSON.stringify(p.graph).includes("cached twice")),
    ).toHaveLength(2);
  });
});
