/**
 * Issue 14, item 4: an open breaker delays; it does not refuse. A real server whose
 * DARKROOM_CONFIG routes test models to the scripted fake upstream, with a small queue
 * (3 tasks per model, 2.5 s of waiting): while a model's only channel is open its
 * submissions are accepted as pending, past the depth they are 503 with Retry-After,
 * and a task that waits longer than the queue allows fails with service_unavailable
 * and a full refund (never called upstream, never charged, settled once even when a
 * cancel got there first). A model with no enabled channel is 503 as before.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addAccount,
  ledgerInvariants,
  startTestServer,
  waitForTask,
  warmKeyCache,
  type TestServer,
} from "../helpers/server.js";
import { FakeUpstream } from "./fake-upstream.js";

const fake = new FakeUpstream();
const cfgDir = mkdtempSync(path.join(tmpdir(), "darkroom-queue-"));
const KEY = "sk-queue000000000000000000000000000000000000";
const MAX_WAIT_MS = 2500;
let s: TestServer;

beforeAll(async () => {
  const file = path.join(cfgDir, "darkroom.json");
  const model = (id: string) => ({
    id,
    extends: "doubao-seedream-4.0",
    price: "1",
    estimated_seconds: 20,
  });
  const channel = (id: string, m: string, extra: Record<string, unknown> = {}) => ({
    id,
    model: m,
    provider: "fake",
    api_key_env: "FAKE_KEY",
    max_concurrency: 2,
    ...extra,
  });
  writeFileSync(
    file,
    JSON.stringify({
      models: ["q-full", "q-none"].map(model),
      channels: [channel("full-1", "q-full"), channel("none-1", "q-none", { enabled: false })],
      queue: { max_depth: 3, max_wait_ms: MAX_WAIT_MS },
    }),
  );
  s = await startTestServer(
    { DARKROOM_CONFIG: file, FAKE_KEY: "fake-secret" },
    { extraProviders: [fake.provider("fake", { canCancel: true })] },
  );
  await addAccount(s.admin, { name: "queuer", key: KEY, credits: 10 });
  await warmKeyCache(s, KEY); // plain submissions then take the fast path
});
afterAll(async () => {
  await ledgerInvariants(s.admin);
  await s.stop();
  rmSync(cfgDir, { recursive: true, force: true });
});

const submit = (m: string, prompt: string, headers: Record<string, string> = {}) =>
  s.api("/v1/images/generations", {
    body: { model: m, prompt, size: "1K" },
    key: KEY,
    headers,
  });
const credits = async () => (await s.api("/v1/credits", { key: KEY })).json.data.user;
const ledgerOf = async (taskId: string) =>
  (await s.admin.listLedger({ taskId }, { pageSize: 100, start: { page: 1 } })).data
    .map((e) => [e.kind, e.amountMicros])
    .sort();

describe("a model whose only channel is open", () => {
  it("queues up to the depth, answers 503 past it, and fails what waited too long with a full refund", async () => {
    // One 429 with a long Retry-After opens the model's only channel.
    fake.script("full-1", {
      kind: "error",
      code: "resource_exhausted",
      retryable: true,
      retryAfterMs: 60_000,
    });
    const opener = await submit("q-full", "opener");
    expect(opener.status).toBe(200);
    expect((await waitForTask(s, opener.json.id, KEY)).final).toMatchObject({
      status: "failed",
      error: { code: "resource_exhausted" },
    });
    expect(opener.json.task_info.estimated_time).toBe(20);

    // Accepted while open: pending, with the breaker's reopening in the estimate.
    const queued = [];
    for (const prompt of ["waits 1", "waits 2", "waits 3"]) {
      const r = await submit("q-full", prompt);
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ status: "pending", task_info: { can_cancel: true } });
      expect(r.json.task_info.estimated_time).toBeGreaterThanOrEqual(20 + 50);
      queued.push(r.json.id as string);
    }
    expect(await credits()).toMatchObject({ remaining_credits: 7, used_credits: 0 });
    // A cancel gets one of them first: it is settled once, as cancelled.
    const cancel = await s.api(`/v1/tasks/${queued[1]}/cancel`, { method: "POST", key: KEY });
    expect(cancel.json).toMatchObject({ status: "failed", error: { code: "request_cancelled" } });

    // Past the depth: 503 with a Retry-After, on the fast path and on the framework's.
    // The cancel made one place: fill it, then one more is refused.
    const fourth = await submit("q-full", "waits 4");
    expect(fourth.status).toBe(200);
    queued.push(fourth.json.id as string);
    const paths: Array<Record<string, string>> = [{}, { "idempotency-key": "queue-full-1" }];
    for (const headers of paths) {
      const full = await submit("q-full", "one too many", headers);
      expect(full.status).toBe(503);
      expect(full.json.error).toMatchObject({ code: "service_unavailable", type: "api_error" });
      expect(full.json.error.message).toMatch(/waiting/);
      const retryAfter = Number(full.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    expect(await credits()).toMatchObject({ remaining_credits: 7 });

    // The others wait longer than the queue allows: failed, never started, refunded.
    for (const id of [queued[0]!, queued[2]!, queued[3]!]) {
      const { final, seen } = await waitForTask(s, id, KEY);
      expect(seen.every((v) => v.status === "pending" || v.status === "failed")).toBe(true);
      expect(final).toMatchObject({
        status: "failed",
        error: { code: "service_unavailable", type: "task_error" },
        usage: { credits_reserved: 1, credits_used: 0 },
      });
      expect(final.error.message).toMatch(/refunded in full/);
      expect((await s.admin.findTask(id))!.attempts).toBe(0);
      expect(await ledgerOf(id)).toEqual([
        ["capture", 0],
        ["release", 1_000_000],
        ["reserve", 1_000_000],
      ]);
    }
    expect((await s.api(`/v1/tasks/${queued[1]}`, { key: KEY })).json.error.code).toBe(
      "request_cancelled",
    );
    expect(await ledgerOf(queued[1]!)).toEqual([
      ["capture", 0],
      ["release", 1_000_000],
      ["reserve", 1_000_000],
    ]);
    expect(fake.channelsFor("waits 1")).toEqual([]);
    expect(await credits()).toMatchObject({ remaining_credits: 10, used_credits: 0 });
    await ledgerInvariants(s.admin);

    // The queue is empty again: the next submission waits its turn.
    const again = await submit("q-full", "after the purge");
    expect(again.status).toBe(200);
    expect(again.json.status).toBe("pending");
  });
});

describe("availability", () => {
  it("503 service_unavailable for a model with no enabled channel, as before", async () => {
    const r = await submit("q-none", "nope");
    expect(r.status).toBe(503);
    expect(r.json.error).toMatchObject({ code: "service_unavailable", type: "api_error" });
    expect(r.json.error.message).toMatch(/No upstream/);
  });
});
