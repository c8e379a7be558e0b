/**
 * What a restart of Darkroom A does to a task running upstream on an `evolink` channel.
 *
 * - Upstream is Darkroom B and the channel says so (`upstream_kind: "darkroom"`): A
 *   stops while its task runs on B, starts again on the same data directory, claims the
 *   task once its lease lapses, resubmits with the same Idempotency-Key and gets B's
 *   task back. B holds one task and charged once; A's task completes.
 * - Upstream is plain EvoLink (the emulator without Darkroom extras, the channel's
 *   default `upstream_kind`): the lost submission may have been billed, and EvoLink
 *   would create a second task for a resubmission, so A fails the task with
 *   service_error and refunds it; the upstream saw exactly one submission. While the
 *   upstream call runs, A's task is not cancellable (EvoLink has no cancel call).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/config.js";
import { startDarkroom, type Darkroom } from "../../../src/server/darkroom.js";
import { startEvolinkEmulator, type EvolinkEmulator } from "../../emulators/evolink.js";
import {
  request,
  startTestServer,
  tasksWithPrompt,
  TEST_ADMIN_TOKEN,
  TEST_API_KEY,
  waitForTask,
  type TestServer,
} from "../../helpers/server.js";

let b: TestServer;
let evolink: EvolinkEmulator;
let dataDir: string;
let configFile: string;
const running: Darkroom[] = [];

beforeAll(async () => {
  b = await startTestServer({ DARKROOM_SANDBOX_DURATION_MS: "100" });
  evolink = await startEvolinkEmulator();
  dataDir = mkdtempSync(path.join(tmpdir(), "evolink-resume-"));
  configFile = path.join(dataDir, "darkroom.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      channels: [
        {
          id: "darkroom-b",
          model: "doubao-seedream-4.0",
          provider: "evolink",
          base_url: b.url,
          api_key_env: "B_API_KEY",
          timeout_ms: 30_000,
          options: { poll_interval_ms: 25, upstream_kind: "darkroom" },
        },
        {
          id: "evolink-plain",
          model: "doubao-seedream-4.5",
          provider: "evolink",
          base_url: evolink.url,
          api_key_env: "EVOLINK_API_KEY",
          upstream_model: "doubao-seedream-4.0",
          timeout_ms: 30_000,
          options: { poll_interval_ms: 25 },
        },
      ],
      sandbox_fallback: false,
    }),
  );
});
// Each test's gateways stop with it: one left running would share the data directory with
// the next test's and could claim its tasks.
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
});
afterAll(async () => {
  await b?.stop();
  await evolink?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startA(): Promise<Darkroom> {
  const config = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    DARKROOM_DATA_DIR: dataDir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DARKROOM_POLL_INTERVAL_MS: "20",
    DARKROOM_LEASE_SECONDS: "2",
    DARKROOM_CONFIG: configFile,
    B_API_KEY: b.apiKey,
    EVOLINK_API_KEY: evolink.apiKey,
    LOG_LEVEL: "silent",
  });
  const dr = await startDarkroom(config, pino({ level: "silent" }));
  running.push(dr);
  return dr;
}

const tasksOnB = (prompt: string) => tasksWithPrompt(b, prompt);

async function until(
  probe: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it("a task interrupted by a restart resumes B's task instead of creating another", async () => {
  const prompt = "[sandbox:delay=2500] resumed after a restart";
  const first = await startA();
  const sub = await request(
    `${first.url}/v1/images/generations`,
    { body: { model: "doubao-seedream-4.0", prompt } },
    TEST_API_KEY,
  );
  expect(sub.status).toBe(200);
  await until(async () => (await tasksOnB(prompt)).length === 1, "B's task");
  const usedBefore = (await b.api("/v1/credits")).json.data.user.used_credits as number;

  await first.stop(); // shutdown: A writes nothing and leaves B's task running
  running.splice(running.indexOf(first), 1);
  expect((await tasksOnB(prompt))[0]!.status).not.toBe("failed");

  const second = await startA();
  const api = (p: string) => request(second.url + p, {}, TEST_API_KEY);
  const { final } = await waitForTask({ api }, sub.json.id, undefined, 20_000);
  expect(final).toMatchObject({ status: "completed" });
  expect(final.results).toHaveLength(1);

  const onB = await tasksOnB(prompt);
  expect(onB).toHaveLength(1);
  expect(onB[0]!.status).toBe("completed");
  const usedAfter = (await b.api("/v1/credits")).json.data.user.used_credits as number;
  expect(Math.round((usedAfter - usedBefore) * 1e6)).toBe(1_800_000);
});

it("on plain EvoLink a task interrupted by a restart is failed and refunded, never resubmitted", async () => {
  const prompt = "[evolink:stall] interrupted on plain EvoLink";
  const first = await startA();
  const api1 = (p: string, init: Parameters<typeof request>[1] = {}) =>
    request(first.url + p, init, TEST_API_KEY);
  const balance = async (api: typeof api1) =>
    (await api("/v1/credits")).json.data.user.remaining_credits as number;
  const before = await balance(api1);
  const sub = await api1("/v1/images/generations", {
    body: { model: "doubao-seedream-4.5", prompt },
  });
  expect(sub.status).toBe(200);
  expect(sub.json.task_info.can_cancel).toBe(true);
  const upstream = () =>
    evolink.submissions.filter((x) => (x.body as { prompt?: string }).prompt === prompt);
  await until(() => upstream().length === 1, "the upstream submission");

  // The upstream has the task: there is no way to stop it, so ours is no longer cancellable.
  let view = (await api1(`/v1/tasks/${sub.json.id}`)).json;
  const deadline = Date.now() + 10_000;
  while (view.status !== "processing" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    view = (await api1(`/v1/tasks/${sub.json.id}`)).json;
  }
  expect([view.status, view.task_info.can_cancel]).toEqual(["processing", false]);
  const cancel = await api1(`/v1/tasks/${sub.json.id}/cancel`, { method: "POST" });
  expect([cancel.status, cancel.json.error.code]).toEqual([409, "task_not_cancellable"]);

  await first.stop();
  running.splice(running.indexOf(first), 1);

  const second = await startA();
  const api2 = (p: string) => request(second.url + p, {}, TEST_API_KEY);
  const { final } = await waitForTask({ api: api2 }, sub.json.id, undefined, 20_000);
  expect(final).toMatchObject({ status: "failed", error: { code: "service_error" } });
  expect(final.error.message).toMatch(/not repeated/);
  expect(final.usage.credits_used).toBe(0);
  expect(await balance(api2)).toBe(before);
  // Exactly one submission upstream: the restart did not send another.
  expect(upstream()).toHaveLength(1);
  expect(evolink.cancels).toHaveLength(0);
});
