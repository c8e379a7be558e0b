/**
 * Through the real server: an `ark` channel in DARKROOM_CONFIG points at the Ark
 * emulator. A task completes with the upstream's images behind signed links and is
 * charged per image generated (one moderated image is not charged), after failing over
 * from a channel whose key is refused; an upstream refusal fails the task with a
 * refund and no upstream detail.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  arkSetSize,
  startArkEmulator,
  type ArkEmulator,
  type RecordedRequest,
} from "../../emulators/ark.js";
import {
  ledgerInvariants,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../../helpers/server.js";

let s: TestServer;
let emu: ArkEmulator;

beforeAll(async () => {
  emu = await startArkEmulator();
  const dir = mkdtempSync(path.join(tmpdir(), "ark-e2e-"));
  const file = path.join(dir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({
      channels: [
        {
          // Tried first; its key is refused (401), so every task fails over to ark-main.
          id: "ark-bad-key",
          model: "doubao-seedream-4.0",
          provider: "ark",
          base_url: emu.url,
          api_key_env: "ARK_TEST_BAD_KEY",
          upstream_model: "doubao-seedream-4-0-250828",
          priority: 0,
          timeout_ms: 20_000,
        },
        {
          id: "ark-main",
          priority: 1,
          model: "doubao-seedream-4.0",
          provider: "ark",
          base_url: emu.url,
          api_key_env: "ARK_TEST_API_KEY",
          upstream_model: "doubao-seedream-4-0-250828",
          timeout_ms: 20_000,
          options: { watermark: false },
        },
      ],
      sandbox_fallback: false,
    }),
  );
  s = await startTestServer({
    DARKROOM_CONFIG: file,
    ARK_TEST_API_KEY: emu.apiKey,
    ARK_TEST_BAD_KEY: "ark-wrong-key",
  });
});
afterAll(async () => {
  await s?.stop();
  await emu?.close();
});

const submit = (prompt: string, n = 1) =>
  s.api("/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", prompt, n, size: "1:1", quality: "1K" },
  });

describe("ark through the gateway", () => {
  it("completes with the upstream's images, charged per image generated", async () => {
    const before = await s.api("/v1/credits");
    // A full set of 3 (Ark may stop short; this test is about the moderated image 1).
    const sub = await submit("[ark:generate=3] [ark:moderate=1] a lighthouse #e2e-ok", 3);
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "completed", progress: 100 });
    expect(final.results).toHaveLength(2);
    expect(final.usage.credits_reserved).toBeCloseTo(5.4, 6);
    expect(final.usage.credits_used).toBeCloseTo(3.6, 6);
    for (const link of final.results as string[]) {
      const res = await fetch(link);
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect([...bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    }
    const after = await s.api("/v1/credits");
    expect(JSON.stringify(after.json)).not.toBe(JSON.stringify(before.json));

    // The refused key failed over (service_unavailable is retryable) to the good one.
    const calls = emu.requests.filter((r) => String(r.body?.prompt).includes("#e2e-ok"));
    expect(calls.map((r) => r.headers.authorization)).toContain("Bearer ark-wrong-key");
    const upstream = calls.find((r) => r.headers.authorization === `Bearer ${emu.apiKey}`);
    expect(upstream?.body).toMatchObject({
      model: "doubao-seedream-4-0-250828",
      size: "1024x1024",
      sequential_image_generation: "auto",
      sequential_image_generation_options: { max_images: 3 },
      watermark: false,
    });
    await ledgerInvariants(s.admin);
  });

  it("a set Ark cuts short on its own (no directive) is charged for the images made", async () => {
    // The first of these prompts for which the emulator, like Ark, makes fewer than 4.
    let i = 0;
    while (arkSetSize(`an orchard #e2e-short-${i}`, 4) === 4) i++;
    const prompt = `an orchard #e2e-short-${i}`;
    const made = arkSetSize(prompt, 4);
    const sub = await submit(prompt, 4);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final).toMatchObject({ status: "completed" });
    expect(final.results).toHaveLength(made);
    expect(final.usage.credits_reserved).toBeCloseTo(7.2, 6);
    expect(Math.round(final.usage.credits_used * 1e6)).toBe(1_800_000 * made);
    await ledgerInvariants(s.admin);
  });

  it("an upstream refusal fails the task with its code, refunded, no upstream detail", async () => {
    const sub = await submit("[ark:error=400,InputTextSensitiveContentDetected] #e2e-refused");
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("failed");
    expect(final.error.code).toBe("content_policy_violation");
    expect(JSON.stringify(final)).not.toMatch(/Request ID|127\.0\.0\.1|Emulated/);
    expect(final.usage.credits_used ?? 0).toBe(0);
    await ledgerInvariants(s.admin);
  });

  it("a task whose Ark call has started cannot be cancelled (Ark cannot stop it) and completes", async () => {
    const started = new Promise<void>((resolve) => {
      const on = (r: RecordedRequest) => {
        if (!String(r.body?.prompt).includes("#e2e-cancel")) return;
        if (r.headers.authorization !== `Bearer ${emu.apiKey}`) return;
        emu.events.off("request", on);
        resolve();
      };
      emu.events.on("request", on);
    });
    const sub = await submit("[ark:delay=1500] #e2e-cancel");
    await started;
    const view = await s.api(`/v1/tasks/${sub.json.id}`);
    expect(view.json.task_info.can_cancel).toBe(false);
    const cancel = await s.api(`/v1/tasks/${sub.json.id}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(409);
    expect(cancel.text).toContain("task_not_cancellable");
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    expect(final.results).toHaveLength(1);
    await ledgerInvariants(s.admin);
  });
});
