/**
 * kill -9 the real server process mid-task, start it again on the same data dir:
 * every accepted task ends exactly once and the ledger balances to the micro-credit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";
import { ledgerInvariants, request, TEST_API_KEY } from "../helpers/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dataDir = mkdtempSync(path.join(tmpdir(), "darkroom-chaos-"));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(root, "src/cli/main.ts"), "serve"],
    {
      cwd: root,
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        DARKROOM_DATA_DIR: dataDir,
        DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
        DARKROOM_BOOTSTRAP_CREDITS: "100",
        DARKROOM_SANDBOX_DURATION_MS: "1500",
        DARKROOM_LEASE_SECONDS: "2",
        DARKROOM_RUNNER_CONCURRENCY: "4",
        DARKROOM_POLL_INTERVAL_MS: "50",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  children.push(child);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    try {
      if ((await request(`http://127.0.0.1:${port}/readyz`)).status === 200) return child;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server did not start");
}

describe("kill -9 mid-task", () => {
  it("every accepted task ends exactly once after a restart, and the ledger balances", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = await startServer(port);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await request(
        `${base}/v1/images/generations`,
        { body: { model: "doubao-seedream-4.0", prompt: `chaos ${i}`, n: 2, size: "1K" } },
        TEST_API_KEY,
      );
      expect(r.status).toBe(200);
      ids.push(r.json.id);
    }
    // Wait until the runner is mid-flight on some of them.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const views = await Promise.all(
        ids.map((id) => request(`${base}/v1/tasks/${id}`, {}, TEST_API_KEY)),
      );
      if (views.some((v) => v.json.status === "processing" && v.json.progress > 0)) break;
      if (Date.now() > deadline) throw new Error("tasks never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));

    await startServer(port);
    const finals: Array<{ status: string; usage: { credits_used: number } }> = [];
    for (const id of ids) {
      for (;;) {
        const v = await request(`${base}/v1/tasks/${id}`, {}, TEST_API_KEY);
        expect(v.status).toBe(200);
        if (v.json.status === "completed" || v.json.status === "failed") {
          finals.push(v.json);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(finals.every((f) => f.status === "completed" && f.usage.credits_used === 3.6)).toBe(
      true,
    );

    const stores = await openStore(
      { databaseUrl: null, sqlitePath: path.join(dataDir, "darkroom.sqlite") },
      { error: (obj, msg) => console.error(msg, obj), warn: (obj, msg) => console.warn(msg, obj) },
    );
    try {
      await ledgerInvariants(stores.admin);
      const attempts = await Promise.all(
        ids.map(async (id) => (await stores.admin.findTask(id))!.attempts),
      );
      // Some tasks were resumed: claimed again after the kill.
      expect(attempts.some((a) => a > 1)).toBe(true);
      const accounts = (await stores.admin.listAccounts({ pageSize: 10, start: { page: 1 } })).data;
      expect(accounts.find((a) => a.name === "default")).toMatchObject({
        balanceMicros: 100_000_000 - 8 * 3_600_000,
        heldMicros: 0,
      });
    } finally {
      await stores.close();
    }
  }, 300_000);
});
