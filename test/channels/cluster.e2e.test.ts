/**
 * Channel state shared by the processes of one deployment: two gateways (each with its
 * own connection, writer thread, router and runner) on one data dir, against one
 * scripted fake upstream. A channel's max_concurrency holds across both, and a breaker
 * opened by one is seen by the other.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ledgerInvariants,
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";
import { FakeUpstream } from "./fake-upstream.js";

const fake = new FakeUpstream();
const dir = mkdtempSync(path.join(tmpdir(), "darkroom-cluster-"));
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  const file = path.join(dir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({
      models: ["m-cap", "m-br"].map((id) => ({ id, extends: "doubao-seedream-4.0", price: "1" })),
      breaker: { failure_threshold: 1, cool_down_ms: 60_000 },
      channel_sync_ms: 100,
      channels: [
        { id: "cap-x", model: "m-cap", provider: "fake", max_concurrency: 2 },
        { id: "br-x", model: "m-br", provider: "fake" },
      ],
    }),
  );
  const env = {
    DARKROOM_CONFIG: file,
    DARKROOM_DATA_DIR: path.join(dir, "data"),
    DARKROOM_RUNNER_CONCURRENCY: "8",
  };
  const opts = { extraProviders: [fake.provider("fake", { canCancel: true })] };
  a = await startTestServer(env, opts);
  b = await startTestServer(env, opts);
});
afterAll(async () => {
  await ledgerInvariants(a.admin);
  await a.stop();
  await b.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("a deployment of two processes", () => {
  it("keeps a channel's max_concurrency across both, and completes every task once", async () => {
    fake.always("cap-x", { kind: "ok", delayMs: 150 });
    const submitted = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? a : b).api("/v1/images/generations", {
          body: { model: "m-cap", prompt: `cap ${i}`, size: "1K" },
        }),
      ),
    );
    for (const t of submitted) {
      expect(t.status).toBe(200);
      expect((await waitForTask(a, t.json.id, undefined, 30_000)).final.status).toBe("completed");
    }
    expect(fake.callsTo("cap-x")).toBe(8);
    expect(fake.maxInFlight.get("cap-x")).toBe(2);
  });

  it("shows a breaker opened by one process in the other's channel health", async () => {
    fake.always("br-x", { kind: "error", code: "service_error", retryable: true });
    const health = async (s: TestServer) =>
      (await request(`${s.url}/admin/v1/channels/br-x`, { key: TEST_ADMIN_TOKEN })).json.health;
    expect((await health(a)).state).toBe("closed");
    expect((await health(b)).state).toBe("closed");
    const t = await a.api("/v1/images/generations", {
      body: { model: "m-br", prompt: "breaks", size: "1K" },
    });
    expect((await waitForTask(a, t.json.id)).final.status).toBe("failed");
    await until("both see it open", async () =>
      (await health(a)).state === "open" && (await health(b)).state === "open" ? true : undefined,
    );
  });
});
