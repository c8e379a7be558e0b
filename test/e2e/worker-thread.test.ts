/**
 * `darkroom serve` in role `all` runs its worker half (runner, callbacks, retention) on
 * a thread of its own (server/threaded.ts): real processes, one SQLite data dir. The
 * API thread hands the thread its wake-ups and cancels, reads its load for
 * /admin/v1/status and /readyz, and counts its events in /metrics; SIGTERM drains both.
 * DARKROOM_WORKER_THREAD=false keeps everything on one event loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";
import { ledgerInvariants, request, TEST_ADMIN_TOKEN } from "../helpers/server.js";
import { api, serveProcesses, statusOf, submit, until } from "../helpers/serve-process.js";

const dataDir = mkdtempSync(path.join(tmpdir(), "darkroom-thread-"));
const { serve } = serveProcesses(dataDir);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const fromThread = (l: Record<string, unknown>) => l.thread === "worker";

describe("the worker half on a thread of its own", () => {
  it("completes tasks on the thread; status, readiness and metrics see it from the API thread", async () => {
    const all = await serve("all", { DARKROOM_SANDBOX_DURATION_MS: "100" });
    try {
      expect(await all.logged("darkroom is ready")).toMatchObject({ workerThread: true });
      expect((await request(`${all.url}/readyz`)).json).toEqual({ status: "ready" });
      const status = await request(`${all.url}/admin/v1/status`, { key: TEST_ADMIN_TOKEN });
      expect(status.json).toMatchObject({ role: "all", runner: { concurrency: 64 } });

      const id = await submit(all.url, "on the thread");
      await until(
        "the task done",
        async () => (await statusOf(all.url, id)).status === "completed",
      );
      const done = await statusOf(all.url, id);
      expect((await fetch(done.results![0]!)).status).toBe(200);

      // The runner that claimed and finished it logged from the thread.
      const claimed = await all.logged("task claimed");
      expect(claimed).toMatchObject({ taskId: id, thread: "worker" });
      expect(all.lines.some((l) => l.event === "task.submitted" && !fromThread(l))).toBe(true);

      // Its events are counted by the API thread's registry. The thread forwards them in
      // batches (every 25 ms), so a poll may see the task completed a moment before.
      const finished =
        /darkroom_tasks_finished_total\{model="doubao-seedream-4\.0",status="completed",code=""\} 1\b/;
      await until("the finish counted", async () =>
        finished.test((await request(`${all.url}/metrics`)).text),
      );
      const metrics = (await request(`${all.url}/metrics`)).text;
      expect(metrics).toMatch(finished);
      expect(metrics).toMatch(/darkroom_tasks_claimed_total\{model="doubao-seedream-4\.0"\} 1\b/);
    } finally {
      all.child.kill("SIGTERM");
      expect(await all.exited).toBe(0);
    }
  }, 180_000);

  it("a cancel reaches the runner on the thread: the answer is already terminal", async () => {
    const all = await serve("all", { DARKROOM_SANDBOX_DURATION_MS: "600000" });
    try {
      const id = await submit(all.url, "cancel me");
      await until("claimed", async () => (await statusOf(all.url, id)).status === "processing");
      const r = await api(all.url, `/v1/tasks/${id}/cancel`, { method: "POST" });
      expect(r.status, r.text).toBe(200);
      // Without the message to the thread, the answer would still say `processing`
      // (the runner would notice only at its next heartbeat).
      expect(r.json).toMatchObject({ status: "failed", error: { code: "request_cancelled" } });
    } finally {
      all.child.kill("SIGTERM");
      expect(await all.exited).toBe(0);
    }
  }, 180_000);

  it("SIGTERM mid-task: the thread hands its task back, the process exits 0", async () => {
    const all = await serve("all", {
      DARKROOM_SANDBOX_DURATION_MS: "600000",
      DARKROOM_SHUTDOWN_GRACE_MS: "1000",
    });
    const id = await submit(all.url, "hangs");
    await until("claimed", async () => (await statusOf(all.url, id)).status === "processing");
    all.child.kill("SIGTERM");
    expect(await all.exited).toBe(0);
    const summaries = all.lines.filter((l) => String(l.msg).startsWith("shutdown complete"));
    expect(summaries.find(fromThread)).toMatchObject({ tasks: { handedBack: 1 } });
    expect(summaries.find((l) => !fromThread(l))).toMatchObject({ http: "drained" });

    // One event loop this time: no thread, and the handed-back task completes.
    const one = await serve("all", {
      DARKROOM_WORKER_THREAD: "false",
      DARKROOM_SANDBOX_DURATION_MS: "100",
    });
    try {
      await until(
        "the task done",
        async () => (await statusOf(one.url, id)).status === "completed",
      );
      expect(one.lines.some(fromThread)).toBe(false);
      expect(await one.logged("darkroom is ready")).not.toHaveProperty("workerThread");
    } finally {
      one.child.kill("SIGTERM");
      expect(await one.exited).toBe(0);
    }
  }, 240_000);

  it("the ledger balances", async () => {
    const stores = await openStore(
      { databaseUrl: null, sqlitePath: path.join(dataDir, "darkroom.sqlite") },
      { error: (obj, msg) => console.error(msg, obj), warn: (obj, msg) => console.warn(msg, obj) },
    );
    try {
      await ledgerInvariants(stores.admin);
    } finally {
      await stores.close();
    }
  }, 60_000);
});
