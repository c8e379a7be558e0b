/**
 * Process roles and graceful shutdown (issue 14) with real `darkroom serve` processes on
 * one SQLite data dir: an `api` process and a `worker` process share the work; SIGTERM
 * drains each of them without losing or double-billing anything.
 *
 * Nothing here asserts a duration: a process is waited for by its log lines, its exit
 * and its answers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { openStore } from "../../src/store/open.js";
import { ledgerInvariants, request, TEST_ADMIN_TOKEN, TEST_API_KEY } from "../helpers/server.js";
import { api, serveProcesses, statusOf, submit, until } from "../helpers/serve-process.js";

const dataDir = mkdtempSync(path.join(tmpdir(), "darkroom-roles-"));

const { spawnServe, serve } = serveProcesses(dataDir);

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const submitted: string[] = [];

describe("process roles", () => {
  it("refuses an unknown role or a worker without a public URL, saying why", async () => {
    const flag = spawnServe(["--role", "everything"], {});
    expect(await flag.exited).not.toBe(0);
    expect(flag.stderr()).toMatch(/--role.*everything.*api, worker, all/s);

    const env = spawnServe([], { DARKROOM_ROLE: "everything" });
    expect(await env.exited).toBe(2);
    expect(env.stderr()).toContain(
      'DARKROOM_ROLE must be one of api, worker, all (got "everything")',
    );

    expect(() => loadConfig({ DARKROOM_ROLE: "worker" })).toThrow(/DARKROOM_PUBLIC_URL/);
    expect(() =>
      loadConfig({ DARKROOM_ROLE: "worker", DARKROOM_RUNNER: "false", DARKROOM_WEBHOOKS: "0" }),
    ).toThrow(/nothing to do/);
    expect(loadConfig({}).role).toBe("all");
    const apiOnly = loadConfig({ DARKROOM_ROLE: "api" });
    expect([apiOnly.runner.enabled, apiOnly.webhooks.enabled]).toEqual([false, false]);
  }, 120_000);

  it("an api and a worker on one data dir: submitted through the api, completed by the worker", async () => {
    const apiProc = await serve("api");
    const worker = await serve("worker", {
      DARKROOM_PUBLIC_URL: apiProc.url,
      DARKROOM_SANDBOX_DURATION_MS: "100",
    });
    try {
      // The worker listens for probes only.
      expect(await request(`${worker.url}/healthz`)).toMatchObject({ status: 200 });
      expect((await request(`${worker.url}/readyz`)).json).toEqual({ status: "ready" });
      for (const [p, init] of [
        ["/v1/models", {}],
        ["/v1/images/generations", { body: { model: "doubao-seedream-4.0", prompt: "x" } }],
        ["/admin/v1/status", { key: TEST_ADMIN_TOKEN }],
        ["/files/images/x.png", {}],
      ] as const) {
        const r = await api(worker.url, p, init);
        expect(r.status, p).toBe(404);
        expect(r.json.error.code, p).toBe("not_found");
      }
      const status = await request(`${apiProc.url}/admin/v1/status`, { key: TEST_ADMIN_TOKEN });
      expect(status.json).toMatchObject({ object: "status", role: "api", runner: null });

      const id = await submit(apiProc.url, "api to worker");
      submitted.push(id);
      await until("the worker to finish it", async () => {
        return (await statusOf(apiProc.url, id)).status === "completed";
      });
      const done = await statusOf(apiProc.url, id);
      // Result links point at the API (DARKROOM_PUBLIC_URL), which serves them.
      expect(done.results![0]!.startsWith(`${apiProc.url}/files/`)).toBe(true);
      expect((await fetch(done.results![0]!)).status).toBe(200);
    } finally {
      worker.child.kill("SIGTERM");
      apiProc.child.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
      expect(await apiProc.exited).toBe(0);
    }
  }, 180_000);

  it("SIGTERM to a worker mid-task: finished or handed back, exit 0; a restarted worker completes everything", async () => {
    const apiProc = await serve("api");
    // Plain tasks never end by themselves on this worker (600 s); the `delay` ones may
    // finish within the grace.
    const worker = await serve("worker", {
      DARKROOM_PUBLIC_URL: apiProc.url,
      DARKROOM_SANDBOX_DURATION_MS: "600000",
      DARKROOM_SHUTDOWN_GRACE_MS: "3000",
    });
    const hanging = [await submit(apiProc.url, "hangs 1"), await submit(apiProc.url, "hangs 2")];
    const quick = [
      await submit(apiProc.url, "[sandbox:delay=400] quick 1"),
      await submit(apiProc.url, "[sandbox:delay=400] quick 2"),
    ];
    const ids = [...hanging, ...quick];
    submitted.push(...ids);
    // Claimed (the public status of a pending task is `pending`).
    await until("the plain tasks claimed", async () => {
      const views = await Promise.all(hanging.map((id) => statusOf(apiProc.url, id)));
      return views.every((v) => v.status === "processing");
    });

    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    const summary = await worker.logged("shutdown complete");
    const tasks = summary.tasks as { finished: number; handedBack: number; leftToLapse: string[] };
    // The sandbox is safe to repeat: nothing is left to its lease.
    expect(tasks.leftToLapse).toEqual([]);
    // The quick ones finished before the signal, within the grace, or were handed back.
    expect(tasks.handedBack).toBeGreaterThanOrEqual(hanging.length);
    expect(tasks.finished + tasks.handedBack).toBeLessThanOrEqual(ids.length);
    for (const id of hanging) {
      const handed = worker.lines.find(
        (l) => l.taskId === id && String(l.msg).includes("handed back"),
      );
      expect(handed, id).toBeDefined();
      expect((await statusOf(apiProc.url, id)).status).toBe("processing");
    }

    const again = await serve("worker", {
      DARKROOM_PUBLIC_URL: apiProc.url,
      DARKROOM_SANDBOX_DURATION_MS: "100",
    });
    try {
      await until("every task done", async () => {
        const views = await Promise.all(ids.map((id) => statusOf(apiProc.url, id)));
        return views.every((v) => v.status === "completed");
      });
    } finally {
      again.child.kill("SIGTERM");
      apiProc.child.kill("SIGTERM");
      expect(await again.exited).toBe(0);
      expect(await apiProc.exited).toBe(0);
    }
  }, 240_000);

  it("SIGTERM to an api mid-request: the request in flight gets its answer, then the process exits 0", async () => {
    const apiProc = await serve("api");
    const port = new URL(apiProc.url).port;
    const body = JSON.stringify({ model: "doubao-seedream-4.0", prompt: "in flight", size: "1K" });
    const socket = connect(Number(port), "127.0.0.1");
    let received = "";
    const answered = new Promise<void>((resolve) => socket.on("end", resolve));
    socket.on("data", (d: Buffer) => (received += d.toString()));
    // Expect: 100-continue: the server says when it has the headers, so the request is
    // in flight, not waiting to be accepted, when the signal arrives.
    socket.write(
      [
        "POST /v1/images/generations HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        `Authorization: Bearer ${TEST_API_KEY}`,
        "Content-Type: application/json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "Expect: 100-continue",
        "",
        "",
      ].join("\r\n"),
    );
    await until("100 Continue", async () => received.includes("100 Continue"));
    apiProc.child.kill("SIGTERM");
    await apiProc.logged("shutting down");
    socket.write(body);
    await answered;
    const answer = received.slice(received.indexOf("\r\n\r\n") + 4);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // The draining server ends the connection with the answer instead of keeping it idle.
    expect(answer.slice(0, answer.indexOf("\r\n\r\n"))).toMatch(/\r\nConnection: close(\r\n|$)/i);
    const task = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { id: string };
    submitted.push(task.id);
    expect(await apiProc.exited).toBe(0);
    expect((await apiProc.logged("shutdown complete")).http).toBe("drained");

    // Accepted means durable: an `all` process on the same data dir runs it.
    const all = await serve("all", { DARKROOM_SANDBOX_DURATION_MS: "100" });
    try {
      await until("the task done", async () => {
        return (await statusOf(all.url, task.id)).status === "completed";
      });
    } finally {
      all.child.kill("SIGTERM");
      expect(await all.exited).toBe(0);
    }
  }, 180_000);

  it("the ledger balances to the micro-credit and every task ran once", async () => {
    expect(submitted.length).toBe(6);
    const stores = await openStore(
      { databaseUrl: null, sqlitePath: path.join(dataDir, "darkroom.sqlite") },
      { error: (obj, msg) => console.error(msg, obj), warn: (obj, msg) => console.warn(msg, obj) },
    );
    try {
      await ledgerInvariants(stores.admin);
      for (const id of submitted) {
        // A handed-back attempt is not counted: each task shows the one run that finished it.
        expect(await stores.admin.findTask(id), id).toMatchObject({
          status: "completed",
          attempts: 1,
          creditsUsedMicros: 1_800_000,
        });
      }
      const accounts = (await stores.admin.listAccounts({ pageSize: 10, start: { page: 1 } })).data;
      expect(accounts.find((a) => a.name === "default")).toMatchObject({
        balanceMicros: 100_000_000 - submitted.length * 1_800_000,
        heldMicros: 0,
      });
    } finally {
      await stores.close();
    }
  }, 60_000);
});
