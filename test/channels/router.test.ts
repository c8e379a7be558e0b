/** The ChannelRouter's accounting with an injected clock: slots, waiting, budgets, breakers, reloads. */
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import type { ChannelStore, StoredChannel } from "../../src/store/channels.js";
import { loadChannelsConfig } from "../../src/config/channels.js";
import { ChannelRouter } from "../../src/channels/router.js";
import type { Provider } from "../../src/providers/contract.js";
import { ProviderRegistry } from "../../src/providers/registry.js";

const fake: Provider = {
  name: "fake",
  safeToRepeat: false,
  generate: async () => ({ generated: 0, failures: [] }),
};

function setup(
  channels: unknown[],
  stored: StoredChannel[] = [],
  extra: Record<string, unknown> = {},
  random: () => number = () => 0,
  /** A runner's lease owner, and what the shared store answers for channel loads. */
  cluster: { owner?: string; channelLoad?: ChannelStore["channelLoad"] } = {},
) {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const store: ChannelStore = {
    listChannels: async () => stored,
    createChannel: async () => true,
    updateChannel: async () => true,
    deleteChannel: async () => true,
    channelLoad: cluster.channelLoad ?? (async () => new Map()),
    listBreakers: async () => [],
    saveBreaker: async () => {},
  };
  const config = loadChannelsConfig(
    { channels, breaker: { failure_threshold: 2, cool_down_ms: 1000 }, ...extra },
    ["m", "other"],
    { KEY: "secret-value" },
    (m) => new Error(m),
  );
  let woken = 0;
  const router = new ChannelRouter({
    ...(cluster.owner !== undefined ? { owner: cluster.owner } : {}),
    registry: new ProviderRegistry().register(fake),
    config,
    store,
    modelIds: () => ["m", "other"],
    log: pino({ level: "silent" }),
    now: clock.now,
    random,
    onCapacity: () => woken++,
  });
  return { router, clock, woken: () => woken };
}

const ch = (id: string, priority: number, max = 1) => ({
  id,
  model: "m",
  provider: "fake",
  priority,
  max_concurrency: max,
  api_key_env: "KEY",
});
const signal = () => new AbortController().signal;

describe("ChannelRouter", () => {
  it("fills the best tier, spills to the next, then makes the next caller wait for a slot", async () => {
    const { router } = setup([ch("a", 0), ch("b", 1)]);
    await router.reload();
    expect(router.claimBudgets().get("m")).toBe(2);
    const l1 = await router.acquire("m", new Set(), signal());
    const l2 = await router.acquire("m", new Set(), signal());
    expect([l1?.channel.id, l2?.channel.id]).toEqual(["a", "b"]);
    expect(l1?.channel.apiKey).toBe("secret-value");
    expect(router.claimBudgets().get("m")).toBe(0);
    let third: string | undefined;
    const waiting = router.acquire("m", new Set(), signal()).then((l) => (third = l?.channel.id));
    await Promise.resolve();
    expect(third).toBeUndefined();
    l2!.succeeded();
    await waiting;
    expect(third).toBe("b");
  });

  it("splits a tier's calls by weight (3:1 over 4,000 calls, seeded)", async () => {
    let seed = 11;
    const { router } = setup(
      [
        { ...ch("heavy", 0, 10), weight: 3 },
        { ...ch("light", 0, 10), weight: 1 },
      ],
      [],
      {},
      () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31,
    );
    await router.reload();
    let heavy = 0;
    for (let i = 0; i < 4000; i++) {
      const l = (await router.acquire("m", new Set(), signal()))!;
      if (l.channel.id === "heavy") heavy++;
      l.succeeded();
    }
    expect(heavy / 4000).toBeGreaterThan(0.72);
    expect(heavy / 4000).toBeLessThan(0.78);
  });

  it("failover skips what was tried and answers null when nothing is left", async () => {
    const { router } = setup([ch("a", 0), ch("b", 1)]);
    await router.reload();
    const l1 = await router.acquire("m", new Set(), signal());
    l1!.failed("service_error");
    const l2 = await router.acquire("m", new Set(["a"]), signal());
    expect(l2?.channel.id).toBe("b");
    l2!.failed("service_error");
    expect(await router.acquire("m", new Set(["a", "b"]), signal())).toBeNull();
  });

  it("opens a channel after 2 counted failures, half-opens after the cool-down, closes on a probe success", async () => {
    const { router, clock } = setup([ch("a", 0, 5), ch("b", 1, 5)]);
    await router.reload();
    for (let i = 0; i < 2; i++)
      (await router.acquire("m", new Set(), signal()))!.failed("service_error");
    expect(router.health(router.get("a")!).state).toBe("open");
    // While open, calls go to b; a's budget no longer counts.
    expect(router.claimBudgets().get("m")).toBe(5);
    expect((await router.acquire("m", new Set(), signal()))!.channel.id).toBe("b");
    clock.advance(1000);
    expect(router.health(router.get("a")!).state).toBe("half-open");
    const probe = await router.acquire("m", new Set(), signal());
    expect(probe!.channel.id).toBe("a");
    // A second caller does not get a second probe.
    expect((await router.acquire("m", new Set(), signal()))!.channel.id).toBe("b");
    probe!.succeeded();
    expect(router.health(router.get("a")!)).toMatchObject({
      state: "closed",
      successes: 1,
      failures: 2,
    });
  });

  it("caller faults do not count against a channel", async () => {
    const { router } = setup([ch("a", 0, 5)]);
    await router.reload();
    for (let i = 0; i < 5; i++)
      (await router.acquire("m", new Set(), signal()))!.failed("content_policy_violation");
    expect(router.health(router.get("a")!).state).toBe("closed");
  });

  it("a model whose channels are all open stays available (its tasks wait) with no budget; all disabled is unavailable", async () => {
    const { router, clock } = setup([
      ch("a", 0, 5),
      { ...ch("off", 0), model: "other", enabled: false },
    ]);
    await router.reload();
    expect(router.queueOutlook("m")).toEqual({ reopensInMs: 0, slots: 5 });
    (await router.acquire("m", new Set(), signal()))!.failed("resource_exhausted", 60_000);
    // Issue 14: an open breaker delays; it does not refuse.
    expect(router.availability("m")).toBe("available");
    expect(router.queueOutlook("m")).toEqual({ reopensInMs: 60_000, slots: 5 });
    clock.advance(20_000);
    expect(router.queueOutlook("m").reopensInMs).toBe(40_000);
    expect(router.claimBudgets().get("m")).toBe(0);
    expect(router.hasUsableChannel("m")).toBe(true);
    expect(router.availability("other")).toBe("unavailable");
    // No usable channel at all: not budgeted, so its tasks are claimed and failed, not held.
    expect(router.claimBudgets().has("other")).toBe(false);
  });

  it("wakes the runner when an open breaker's cool-down ends, not at the next poll", async () => {
    const { router, clock, woken } = setup([ch("a", 0, 2)]);
    await router.reload();
    const before = woken();
    (await router.acquire("m", new Set(), signal()))!.failed("resource_exhausted", 40);
    expect(router.claimBudgets().get("m")).toBe(0);
    const settled = woken(); // the slot's release itself wakes once
    expect(settled).toBeGreaterThan(before);
    clock.advance(40);
    // The reopen timer fires on its own: no acquire, no reload, no poll.
    await vi.waitFor(() => expect(woken()).toBeGreaterThan(settled), { timeout: 5000 });
    expect(router.claimBudgets().get("m")).toBe(1); // half-open: one probe
    router.stop();
  });

  it("a waiter gives up when its signal aborts", async () => {
    const { router } = setup([ch("a", 0)]);
    await router.reload();
    await router.acquire("m", new Set(), signal());
    const ac = new AbortController();
    const p = router.acquire("m", new Set(), ac.signal);
    ac.abort();
    expect(await p).toBeNull();
    expect(router.claimBudgets().get("m")).toBe(0);
  });

  it("models without channels use the built-in sandbox unless sandbox_fallback is false", async () => {
    const a = setup([ch("a", 0)]);
    await a.router.reload();
    // No sandbox provider registered here: the fallback needs one.
    expect(a.router.availability("other")).toBe("unavailable");
    const b = setup([], [], { sandbox_fallback: false });
    await b.router.reload();
    expect(b.router.availability("m")).toBe("unavailable");
  });

  it("admin-defined channels with a missing secret are listed with the problem and not used", async () => {
    const stored: StoredChannel = {
      id: "db",
      model: "other",
      provider: "fake",
      baseUrl: null,
      apiKeyEnv: "NOT_SET",
      apiKeyFile: null,
      upstreamModel: null,
      priority: 0,
      weight: 1,
      maxConcurrency: 1,
      timeoutMs: 1000,
      enabled: true,
      options: {},
      createdAt: 1,
      updatedAt: 1,
    };
    const { router } = setup([], [stored]);
    await router.reload();
    expect(router.health(router.get("db")!).problem).toMatch(/NOT_SET is not set/);
    expect(router.availability("other")).toBe("unavailable");
  });

  it("refuses a config channel whose provider is not registered", () => {
    expect(() => setup([{ ...ch("x", 0), provider: "nope" }])).toThrow(/unknown provider "nope"/);
  });
});

describe("ChannelRouter across processes", () => {
  it("adds the other runners' calls to its own, and never counts its own twice", async () => {
    const asked: Array<string | null | undefined> = [];
    /** What the shared store holds: other runners' calls, and this one's marked calls. */
    let others = 2;
    let oursMarked = 0;
    const { router } = setup([ch("shared", 0, 4)], [], {}, undefined, {
      owner: "me",
      channelLoad: async (_ids, _now, exceptOwner) => {
        asked.push(exceptOwner);
        const n = exceptOwner === "me" ? others : others + oursMarked;
        return new Map(n > 0 ? [["shared", n]] : []);
      },
    });
    await router.reload();
    await router.syncCluster();
    expect(asked).toEqual(["me"]);
    const health = () => router.health(router.get("shared")!).in_flight;
    expect(health()).toBe(2);

    const lease = await router.acquire("m", new Set(), signal());
    oursMarked = 1;
    expect(health()).toBe(3);
    // The call ended here; its task's finish is not committed yet, so the shared store
    // still counts it as live. A sync at that moment must not make it a phantom call.
    lease!.failed("generation_timeout");
    await router.syncCluster();
    expect(health()).toBe(2);
    others = 0;
    await router.syncCluster();
    expect(health()).toBe(0);
    router.stop();
  });
});
