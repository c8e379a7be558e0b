/**
 * Through the real server: `gemini` channels in DARKROOM_CONFIG point at the Gemini
 * emulator. A task completes with the upstream's images behind our links and is
 * charged per image delivered; a safety block fails it with content_policy_violation,
 * refunded; a channel answering 429 or 503 is failed over; a task whose call has
 * started cannot be cancelled (Google cannot stop it) and completes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { startHttp, type TestHttpServer } from "../../net/servers.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startGeminiEmulator,
  type GeminiEmulator,
  type GeminiRecordedRequest,
} from "../../emulators/gemini.js";
import {
  ledgerInvariants,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../../helpers/server.js";

let s: TestServer;
let emu: GeminiEmulator;
let refs: TestHttpServer;
let wide: Buffer;
const dir = mkdtempSync(path.join(tmpdir(), "gemini-e2e-"));
const BUSY_KEY = "gemini-busy-key";
const DOWN_KEY = "gemini-down-key";

const channel = (id: string, model: string, keyEnv: string, priority: number) => ({
  id,
  model,
  provider: "gemini",
  base_url: emu.url,
  api_key_env: keyEnv,
  priority,
  timeout_ms: 20_000,
});

beforeAll(async () => {
  wide = await sharp({ create: { width: 160, height: 90, channels: 3, background: "#2a7" } })
    .png()
    .toBuffer();
  refs = await startHttp({ "/wide.png": (_req, res) => res.end(wide) });
  emu = await startGeminiEmulator({ failingKeys: { [BUSY_KEY]: 429, [DOWN_KEY]: 503 } });
  const file = path.join(dir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({
      channels: [
        // Tried first for flash: always rate limited, so its tasks fail over.
        channel("gem-busy", "gemini-2.5-flash-image", "GEM_BUSY_KEY", 0),
        channel("gem-flash", "gemini-2.5-flash-image", "GEM_KEY", 1),
        // Tried first for pro: always 503.
        channel("gem-down", "gemini-3-pro-image-preview", "GEM_DOWN_KEY", 0),
        channel("gem-pro", "gemini-3-pro-image-preview", "GEM_KEY", 1),
      ],
      sandbox_fallback: false,
    }),
  );
  s = await startTestServer({
    DARKROOM_CONFIG: file,
    GEM_KEY: emu.apiKey,
    GEM_BUSY_KEY: BUSY_KEY,
    GEM_DOWN_KEY: DOWN_KEY,
    // The reference image server is on loopback, which the safe fetcher refuses by default.
    DARKROOM_OUTBOUND_ALLOW: "127.0.0.1/32",
  });
});
afterAll(async () => {
  await s?.stop();
  await emu?.close();
  await refs?.close();
  rmSync(dir, { recursive: true, force: true });
});

const submit = (body: Record<string, unknown>) =>
  s.api("/v1/images/generations", { body: { model: "gemini-2.5-flash-image", ...body } });
const callsFor = (tag: string) => emu.requests.filter((r) => r.prompt?.includes(tag));
const keysOf = (calls: GeminiRecordedRequest[]) => calls.map((r) => r.headers["x-goog-api-key"]);

describe("gemini through the gateway", () => {
  it("completes after failing over a 429 channel, charged per image delivered", async () => {
    const sub = await submit({ prompt: "two kites #e2e-ok", n: 2, size: "16:9" });
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "completed", progress: 100 });
    expect(final.results).toHaveLength(2);
    expect(final.usage.credits_reserved).toBeCloseTo(4, 6);
    expect(final.usage.credits_used).toBeCloseTo(4, 6);
    const res = await fetch(final.results[0]);
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 1344, 768]);
    // The busy channel was asked once and refused with 429; the good one made both.
    expect(keysOf(callsFor("#e2e-ok"))).toEqual([BUSY_KEY, emu.apiKey, emu.apiKey]);
    await ledgerInvariants(s.admin);
  });

  it("a reference image is fetched by the gateway and sent inline", async () => {
    const sub = await submit({
      prompt: "like this #e2e-ref",
      image_urls: [`${refs.origin}/wide.png`],
    });
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    const call = callsFor("#e2e-ref").find((r) => r.headers["x-goog-api-key"] === emu.apiKey)!;
    expect(call.images).toEqual([{ mimeType: "image/png", bytes: wide.length }]);
    // size auto: the model followed the reference's 16:9 shape.
    const meta = await sharp(
      Buffer.from(await (await fetch(final.results[0])).arrayBuffer()),
    ).metadata();
    expect([meta.width, meta.height]).toEqual([1344, 768]);
  });

  it("a 503 channel is failed over too", async () => {
    const sub = await s.api("/v1/images/generations", {
      body: { model: "gemini-3-pro-image-preview", prompt: "a glacier #e2e-503", size: "4K" },
    });
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    expect(keysOf(callsFor("#e2e-503"))).toEqual([DOWN_KEY, emu.apiKey]);
    const meta = await sharp(
      Buffer.from(await (await fetch(final.results[0])).arrayBuffer()),
    ).metadata();
    expect([meta.width, meta.height]).toEqual([4096, 4096]);
  });

  it("fewer images than asked: charged for the images delivered only", async () => {
    const sub = await submit({ prompt: "three boats [gemini:images=1] #e2e-few", n: 3 });
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    expect(final.results).toHaveLength(1);
    expect(final.usage.credits_reserved).toBeCloseTo(6, 6);
    expect(final.usage.credits_used).toBeCloseTo(2, 6);
    await ledgerInvariants(s.admin);
  });

  it("a safety block fails the task with content_policy_violation, refunded, not failed over", async () => {
    const sub = await submit({ prompt: "x [gemini:finish=IMAGE_SAFETY] #e2e-safety" });
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("failed");
    expect(final.error.code).toBe("content_policy_violation");
    expect(final.usage.credits_used ?? 0).toBe(0);
    expect(JSON.stringify(final)).not.toMatch(/googleapis|127\.0\.0\.1|IMAGE_SAFETY/);
    // Asked of one good channel only: a content refusal is the caller's, not the channel's.
    expect(keysOf(callsFor("#e2e-safety")).filter((k) => k === emu.apiKey)).toHaveLength(1);
    await ledgerInvariants(s.admin);
  });

  it("a task whose call has started cannot be cancelled and completes", async () => {
    const started = new Promise<void>((resolve) => {
      const on = (r: GeminiRecordedRequest) => {
        if (!r.prompt?.includes("#e2e-cancel") || r.headers["x-goog-api-key"] !== emu.apiKey)
          return;
        emu.events.off("request", on);
        resolve();
      };
      emu.events.on("request", on);
    });
    const sub = await submit({ prompt: "[gemini:delay=1500] #e2e-cancel" });
    await started;
    const view = await s.api(`/v1/tasks/${sub.json.id}`);
    expect(view.json.task_info.can_cancel).toBe(false);
    const cancel = await s.api(`/v1/tasks/${sub.json.id}/cancel`, { method: "POST" });
    expect([cancel.status, cancel.json.error.code]).toEqual([409, "task_not_cancellable"]);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    expect(final.results).toHaveLength(1);
    await ledgerInvariants(s.admin);
  });
});
