/**
 * The runner's graceful stop (issue 14), against a real SQLite store: what it does with
 * each task it holds. A task whose upstream call has not started is handed back at once;
 * one mid-call may finish within the grace; at the deadline a call that is safe to
 * repeat is handed back and one that may have charged is left to its lease, and the
 * next runner fails and refunds it without calling the upstream again.
 *
 * The upstreams here are gated sandboxes: a call waits until the test opens its gate
 * (or the runner aborts it), so "mid-call" is a state the test sees, not a timing.
 */
import path from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChannelRouter } from "../../src/channels/router.js";
import { loadChannelsConfig, type ChannelFileSection } from "../../src/config/channels.js";
import { DurationEstimator } from "../../src/core/estimate.js";
import { BUILTIN_MODELS } from "../../src/core/models.js";
import { FsStorage } from "../../src/media/fs-storage.js";
import { DarkroomEventBus } from "../../src/obs/events.js";
import type { Provider } from "../../src/providers/contract.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { createSandboxProvider } from "../../src/providers/sandbox/index.js";
import { createPipeline } from "../../src/runner/pipeline.js";
import { Runner } from "../../src/runner/runner.js";
import type { Store } from "../../src/store/store.js";
import { emptyChannelStore } from "../helpers/channels.js";
import { ledgerInvariants } from "../helpers/server.js";
import { openTestStore, submitInput, type TestStore } from "../helpers/store.js";

const log = pino({ level: "silent" });
let opened: TestStore;
let store: Store;
const runners: Runner[] = [];

beforeEach(async () => {
  opened = await openTestStore("1000");
  store = opened.store;
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
  await ledgerInvariants(opened.admin);
  await opened.close();
});

/** A sandbox whose calls wait at a gate: open one, open all, or let later calls through. */
function gatedUpstream(name: string, safeToRepeat: boolean) {
  const sandbox = createSandboxProvider({ durationMs: 0 });
  const calls: string[] = [];
  const gates = new Map<string, () => void>();
  let holding = true;
  const provider: Provider = {
    name,
    safeToRepeat,
    canCancel: false,
    async generate(req, ctx) {
      const id = ctx.taskId ?? "";
      calls.push(id);
      if (holding) {
        await new Promise<void>((resolve, reject) => {
          gates.set(id, resolve);
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), {
            once: true,
          });
        });
      }
      return sandbox.generate(req, ctx);
    },
  };
  return {
    provider,
    calls,
    open: (taskId: string) => gates.get(taskId)?.(),
    passThrough: () => (holding = false),
  };
}

async function routerFor(registry: ProviderRegistry, file: ChannelFileSection) {
  const router = new ChannelRouter({
    registry,
    config: loadChannelsConfig(
      file,
      BUILTIN_MODELS.map((m) => m.id),
      {},
      (m) => new Error(m),
    ),
    store: emptyChannelStore,
    modelIds: () => BUILTIN_MODELS.map((m) => m.id),
    log,
  });
  await router.reload();
  return router;
}

function runnerOn(router: ChannelRouter, leaseMs: number, events = new DarkroomEventBus()) {
  const runner = new Runner(
    store,
    createPipeline({
      store,
      router,
      media: new FsStorage(path.join(opened.dir, "files")),
      estimator: new DurationEstimator(() => 45),
      events,
      log,
    }),
    { concurrency: 4, leaseMs, pollIntervalMs: 20 },
    log,
  );
  runners.push(runner);
  return runner;
}

async function submit(model: string, prompt: string): Promise<string> {
  const input = submitInput(opened.principal, { body: { model, prompt } });
  expect((await store.submitTask(input)).kind).toBe("created");
  return input.taskId;
}

async function until(what: string, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const record = async (id: string) => (await opened.admin.findTask(id))!;

describe("the runner's graceful stop", () => {
  it("hands back a task still waiting for a channel at once; one mid-call finishes within the grace", async () => {
    const up = gatedUpstream("gated", false);
    const registry = new ProviderRegistry().register(up.provider);
    // One slot: the second task waits for it, before any upstream call.
    const router = await routerFor(registry, {
      channels: [
        { id: "one-slot", model: "doubao-seedream-4.0", provider: "gated", max_concurrency: 1 },
      ],
    });
    const calling = await submit("doubao-seedream-4.0", "mid-call");
    const waiting = await submit("doubao-seedream-4.0", "waiting for a slot");
    const runner = runnerOn(router, 30_000);
    runner.start();
    await until("the first call", () => up.calls.length === 1);
    await until("both claimed", async () => (await record(waiting)).status === "processing");
    expect(up.calls).toEqual([calling]);

    const stopping = runner.stop(600_000);
    // Handed back while the other still runs: attempt uncounted, lease already lapsed.
    await until("the waiting task handed back", async () => (await record(waiting)).attempts === 0);
    expect((await record(calling)).status).toBe("processing");
    up.open(calling);
    const report = await stopping;
    expect(report).toEqual({ finished: 1, handedBack: 1, leftToLapse: [], leaseLost: 0 });
    expect(await record(calling)).toMatchObject({ status: "completed", attempts: 1 });

    // The handed-back task is claimable now (its lease was 30 s) and runs normally.
    up.passThrough();
    const next = runnerOn(router, 30_000);
    next.start();
    await until(
      "the handed-back task done",
      async () => (await record(waiting)).status !== "processing",
    );
    expect(await record(waiting)).toMatchObject({ status: "completed", attempts: 1 });
    expect(up.calls).toEqual([calling, waiting]);
  });

  it("at the deadline, hands back a call safe to repeat and leaves one that may have charged to its lease", async () => {
    const free = gatedUpstream("free", true);
    const paid = gatedUpstream("paid", false);
    const registry = new ProviderRegistry().register(free.provider).register(paid.provider);
    const router = await routerFor(registry, {
      channels: [
        { id: "free-1", model: "doubao-seedream-4.0", provider: "free" },
        { id: "paid-1", model: "doubao-seedream-4.5", provider: "paid" },
      ],
    });
    const onFree = await submit("doubao-seedream-4.0", "safe to repeat");
    const onPaid = await submit("doubao-seedream-4.5", "may have charged");
    const runner = runnerOn(router, 1000);
    runner.start();
    await until("both calls", () => free.calls.length === 1 && paid.calls.length === 1);

    // Neither call ends by itself: the (short) grace always runs out.
    const report = await runner.stop(50);
    expect(report).toEqual({ finished: 0, handedBack: 1, leftToLapse: [onPaid], leaseLost: 0 });
    expect(await record(onFree)).toMatchObject({ status: "processing", attempts: 0 });
    // Left as a crash leaves it: the lease lapses, nothing was written.
    expect(await record(onPaid)).toMatchObject({ status: "processing", attempts: 1 });

    free.passThrough();
    paid.passThrough();
    const next = runnerOn(router, 1000);
    next.start();
    await until(
      "both settled",
      async () =>
        (await record(onFree)).status !== "processing" &&
        (await record(onPaid)).status !== "processing",
    );
    expect(await record(onFree)).toMatchObject({ status: "completed" });
    expect(free.calls).toEqual([onFree, onFree]);
    // The crash rule: failed and refunded, the upstream never called a second time.
    expect(await record(onPaid)).toMatchObject({
      status: "failed",
      errorCode: "service_error",
      creditsUsedMicros: 0,
    });
    expect(paid.calls).toEqual([onPaid]);
  });
});
