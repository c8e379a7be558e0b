/**
 * Deliveries live in the database, not in memory: a server stopped between two
 * attempts leaves the delivery to the next server on the same data dir. And every
 * terminal move enqueues its callback, including the cancel of a pending task.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { startDarkroom, type Darkroom } from "../../src/server/darkroom.js";
import { request, TEST_ADMIN_TOKEN, TEST_API_KEY } from "../helpers/server.js";
import { eventually, makeTestCa, startReceiver, type Receiver, type TestCa } from "./receiver.js";

let ca: TestCa;
let rx: Receiver;
const dirs: string[] = [];
const running: Darkroom[] = [];

beforeAll(async () => {
  ca = makeTestCa();
  rx = await startReceiver(ca);
});
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await rx?.close();
  ca?.remove();
});

async function start(dataDir: string, env: Record<string, string> = {}): Promise<Darkroom> {
  const config = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    DARKROOM_DATA_DIR: dataDir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DARKROOM_SANDBOX_DURATION_MS: "50",
    DARKROOM_POLL_INTERVAL_MS: "20",
    DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
    DARKROOM_WEBHOOK_CA_FILE: ca.caFile,
    LOG_LEVEL: "silent",
    ...env,
  });
  const dr = await startDarkroom(config, pino({ level: "silent" }));
  running.push(dr);
  return dr;
}

const newDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), "darkroom-restart-"));
  dirs.push(d);
  return d;
};

const deliveryOf = async (dr: Darkroom, taskId: string) =>
  (await request(`${dr.url}/admin/v1/webhooks?task_id=${taskId}`, { key: TEST_ADMIN_TOKEN })).json
    .data[0];

async function submit(dr: Darkroom, callbackPath: string): Promise<string> {
  const r = await request(
    `${dr.url}/v1/images/generations`,
    {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "a quay",
        callback_url: `${rx.origin}${callbackPath}`,
      },
    },
    TEST_API_KEY,
  );
  expect(r.status, r.text).toBe(200);
  return r.json.id as string;
}

describe.concurrent("deliveries survive a restart", () => {
  it("a server stopped after a failed attempt; the next one on the same data dir delivers", async () => {
    rx.script("/restart", [500, 200]);
    const dir = newDir();
    const first = await start(dir);
    const taskId = await submit(first, "/restart");
    await rx.waitFor("/restart", 1);
    // Wait until the failed attempt is recorded (the retry is due 1 s later).
    await eventually(async () =>
      (await deliveryOf(first, taskId))?.attempts === 1 ? true : undefined,
    );
    await first.stop();

    const second = await start(dir);
    const done = await eventually(async () => {
      const d = await deliveryOf(second, taskId);
      return d?.status === "delivered" ? d : undefined;
    });
    expect(done.attempt_list.map((a: { status_code: number }) => a.status_code)).toEqual([
      500, 200,
    ]);
    const arrivals = rx.arrivals("/restart");
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1]!.headers["webhook-id"]).toBe(arrivals[0]!.headers["webhook-id"]);
    expect(JSON.parse(arrivals[1]!.body)).toMatchObject({ id: taskId, status: "completed" });
  });

  it("an API-only server (no dispatcher) keeps deliveries until a dispatcher runs", async () => {
    const dir = newDir();
    const apiOnly = await start(dir, { DARKROOM_WEBHOOKS: "false" });
    expect(apiOnly.webhooks).toBeNull();
    const taskId = await submit(apiOnly, "/later");
    await eventually(async () => ((await deliveryOf(apiOnly, taskId)) ? true : undefined));
    expect((await deliveryOf(apiOnly, taskId)).status).toBe("pending");
    expect(rx.arrivals("/later")).toHaveLength(0);
    await apiOnly.stop();

    const withDispatcher = await start(dir, { DARKROOM_RUNNER: "false" });
    await rx.waitFor("/later", 1);
    await eventually(async () =>
      (await deliveryOf(withDispatcher, taskId))?.status === "delivered" ? true : undefined,
    );
  });

  it("cancelling a processing task sends its callback once it is settled", async () => {
    const dr = await start(newDir());
    const r = await request(
      `${dr.url}/v1/images/generations`,
      {
        body: {
          model: "doubao-seedream-4.0",
          prompt: "a slow quay [sandbox:delay=20000]",
          callback_url: `${rx.origin}/cancel-running`,
        },
      },
      TEST_API_KEY,
    );
    expect(r.status, r.text).toBe(200);
    const taskId = r.json.id as string;
    await eventually(async () => {
      const t = await request(`${dr.url}/v1/tasks/${taskId}`, {}, TEST_API_KEY);
      return t.json.status === "processing" ? true : undefined;
    });
    const c = await request(
      `${dr.url}/v1/tasks/${taskId}/cancel`,
      { method: "POST" },
      TEST_API_KEY,
    );
    expect(c.status, c.text).toBe(200);
    const [a] = await rx.waitFor("/cancel-running", 1);
    expect(JSON.parse(a!.body)).toMatchObject({
      id: taskId,
      status: "failed",
      error: { code: "request_cancelled" },
    });
  });

  it("cancelling a pending task sends its callback", async () => {
    const dr = await start(newDir(), { DARKROOM_RUNNER: "false" });
    const taskId = await submit(dr, "/cancelled");
    const c = await request(
      `${dr.url}/v1/tasks/${taskId}/cancel`,
      { method: "POST" },
      TEST_API_KEY,
    );
    expect(c.status, c.text).toBe(200);
    const [a] = await rx.waitFor("/cancelled", 1);
    expect(JSON.parse(a!.body)).toMatchObject({
      id: taskId,
      status: "failed",
      error: { code: "request_cancelled" },
      usage: { credits_used: 0 },
    });
  });
});
