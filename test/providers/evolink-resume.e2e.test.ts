/**
 * The evolink provider is safe to repeat: Darkroom A stops while its task runs on
 * Darkroom B, starts again on the same data directory, claims the task once its lease
 * lapses, resubmits with the same Idempotency-Key and gets B's task back. B holds one
 * task and charged once; A's task completes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { startDarkroom, type Darkroom } from "../../src/server/darkroom.js";
import {
  request,
  startTestServer,
  tasksWithPrompt,
  TEST_ADMIN_TOKEN,
  TEST_API_KEY,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

let b: TestServer;
let dataDir: string;
let configFile: string;
const running: Darkroom[] = [];

beforeAll(async () => {
  b = await startTestServer({ DARKROOM_SANDBOX_DURATION_MS: "100" });
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
          options: { poll_interval_ms: 25 },
        },
      ],
      sandbox_fallback: false,
    }),
  );
});
afterAll(async () => {
  for (const d of running) await d.stop();
  await b?.stop();
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
    DARKROOM_AUTH_CACHE_MS: "0",
    DARKROOM_CONFIG: configFile,
    B_API_KEY: b.apiKey,
    LOG_LEVEL: "silent",
  });
  const dr = await startDarkroom(config, pino({ level: "silent" }));
  running.push(dr);
  return dr;
}

const tasksOnB = (prompt: string) => tasksWithPrompt(b, prompt);

async function until(probe: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
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
