/**
 * The runner against a real SQLite store and the real sandbox provider: concurrency
 * limit, lease fencing, and recovery of tasks whose runner died mid-flight.
 */
import path from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DurationEstimator } from "../../src/core/estimate.js";
import { FsStorage } from "../../src/media/fs-storage.js";
import { DarkroomEventBus } from "../../src/obs/events.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { sandboxRouter } from "../helpers/channels.js";
import { createSandboxProvider } from "../../src/providers/sandbox/index.js";
import { createPipeline } from "../../src/runner/pipeline.js";
import { Runner } from "../../src/runner/runner.js";
import type { KeyPrincipal, Store } from "../../src/store/store.js";
import { ledgerInvariants } from "../helpers/server.js";
import { openTestStore, submitInput, type TestStore } from "../helpers/store.js";

const log = pino({ level: "silent" });
let opened: TestStore;
let dir: string;
let store: Store;
let principal: KeyPrincipal;
const runners: Runner[] = [];

beforeEach(async () => {
  opened = await openTestStore("1000");
  ({ store, principal, dir } = opened);
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
  await ledgerInvariants(opened.admin);
  await opened.close();
});

async function submit(prompt: string, n = 1): Promise<string> {
  const input = submitInput(principal, {
    body: { model: "doubao-seedream-4.0", prompt, n, size: "1K" },
    priceMicros: 1_800_000,
  });
  const r = await store.submitTask(input);
  expect(r.kind).toBe("created");
  return input.taskId;
}

async function makeRunner(opts: {
  concurrency: number;
  leaseMs: number;
  durationMs: number;
  events?: DarkroomEventBus;
}) {
  const events = opts.events ?? new DarkroomEventBus();
  const registry = new ProviderRegistry().register(
    createSandboxProvider({ durationMs: opts.durationMs }),
  );
  const pipeline = createPipeline({
    store,
    router: await sandboxRouter(registry),
    media: new FsStorage(path.join(dir, "files")),
    estimator: new DurationEstimator(() => 45),
    events,
    log,
  });
  const runner = new Runner(
    store,
    pipeline,
    { concurrency: opts.concurrency, leaseMs: opts.leaseMs, pollIntervalMs: 20 },
    log,
  );
  runners.push(runner);
  return { runner, events };
}

function waitFinished(
  events: DarkroomEventBus,
  count: number,
): Promise<Array<{ taskId: string; status: string }>> {
  return new Promise((resolve) => {
    const done: Array<{ taskId: string; status: string }> = [];
    events.on("task:finished", (e) => {
      done.push(e);
      if (done.length === count) resolve(done);
    });
  });
}

describe("runner", () => {
  it("never runs more tasks at once than its concurrency limit, and finishes them all", async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(`task ${i}`)));
    const { runner, events } = await makeRunner({ concurrency: 3, leaseMs: 5000, durationMs: 80 });
    let active = 0;
    let maxActive = 0;
    events.on("task:claimed", () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
    });
    events.on("task:finished", () => (active -= 1));
    const finished = waitFinished(events, 10);
    runner.start();
    const done = await finished;
    expect(maxActive).toBe(3);
    expect(new Set(done.map((d) => d.taskId))).toEqual(new Set(ids));
    expect(done.every((d) => d.status === "completed")).toBe(true);
  });

  it("recovers tasks whose runner died mid-flight, finishing each exactly once", async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => submit(`crash ${i}`, 2)));
    // A runner claims everything and then "dies": it never heartbeats nor finishes.
    const dead = await store.claimTasks("dead-runner", 10, 300, Date.now());
    expect(dead.map((c) => c.task.id).sort()).toEqual([...ids].sort());
    const { runner, events } = await makeRunner({ concurrency: 5, leaseMs: 5000, durationMs: 20 });
    const finished = waitFinished(events, 5);
    runner.start();
    const done = await finished;
    expect(done.every((d) => d.status === "completed")).toBe(true);
    // The dead runner wakes up late: its writes are fenced off by the lease token.
    for (const c of dead) {
      expect(await store.reportProgress(c.task.id, c.leaseToken, 50, Date.now())).toBe(false);
      expect(
        await store.finishTask(
          c.task.id,
          c.leaseToken,
          { kind: "failed", code: "service_error", message: "late" },
          Date.now(),
        ),
      ).toBe(false);
    }
    for (const id of ids) {
      const t = await opened.admin.findTask(id);
      expect(t).toMatchObject({ status: "completed", attempts: 2, creditsUsedMicros: 3_600_000 });
      const entries = (
        await opened.admin.listLedger({ taskId: id }, { pageSize: 10, start: { page: 1 } })
      ).data.reverse();
      expect(entries.map((e) => [e.kind, e.amountMicros])).toEqual([
        ["reserve", 3_600_000],
        ["capture", 3_600_000],
        ["release", 0],
      ]);
    }
  });

  it("a live lease is not stolen: a second runner waits while the first heartbeats", async () => {
    const id = await submit("slow [sandbox:delay=600]");
    const a = await makeRunner({ concurrency: 1, leaseMs: 300, durationMs: 600 });
    const b = await makeRunner({ concurrency: 1, leaseMs: 300, durationMs: 600, events: a.events });
    let claims = 0;
    a.events.on("task:claimed", () => (claims += 1));
    const finished = waitFinished(a.events, 1);
    a.runner.start();
    await new Promise((r) => setTimeout(r, 50));
    b.runner.start();
    const [done] = await finished;
    expect(done).toMatchObject({ taskId: id, status: "completed" });
    expect(claims).toBe(1);
  });

  it("a task is settled once: a second finish with the same lease is refused", async () => {
    const id = await submit("once");
    const [c] = await store.claimTasks("r", 1, 5000, Date.now());
    expect(
      await store.finishTask(
        id,
        c!.leaseToken,
        { kind: "completed", images: [], chargeMicros: 1_800_000 },
        Date.now(),
      ),
    ).toBe(true);
    expect(
      await store.finishTask(
        id,
        c!.leaseToken,
        { kind: "completed", images: [], chargeMicros: 1_800_000 },
        Date.now(),
      ),
    ).toBe(false);
    const kinds = (
      await opened.admin.listLedger({ taskId: id }, { pageSize: 10, start: { page: 1 } })
    ).data.map((e) => e.kind);
    expect(kinds.sort()).toEqual(["capture", "release", "reserve"]);
    // The database's own refusal of a second capture: test/store/sqlite/ledger.test.ts.
  });
});
