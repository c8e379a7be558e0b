/**
 * A half-open channel's probe is shared by every process: when the process making it is
 * killed before the call settles, the probe must not keep the channel shut for the whole
 * deployment. Found by the chaos run (chaos/): every channel of a model stayed
 * half-open "probing" after a worker was SIGKILLed, and its tasks waited for ever.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { BreakerState } from "../../src/core/breaker.js";
import { loadChannelsConfig } from "../../src/config/channels.js";
import { ChannelRouter } from "../../src/channels/router.js";
import type { Provider } from "../../src/providers/contract.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { ChannelStore, SharedBreaker } from "../../src/store/channels.js";

const fake: Provider = {
  name: "fake",
  safeToRepeat: false,
  generate: async () => ({ generated: 0, failures: [] }),
};

describe("a probe whose process died", () => {
  it("is presumed lost once the call would have timed out, and the next probe goes through", async () => {
    let t = 1_000_000;
    const breakers = new Map<string, SharedBreaker>();
    const store: ChannelStore = {
      listChannels: async () => [],
      createChannel: async () => true,
      updateChannel: async () => true,
      deleteChannel: async () => true,
      channelLoad: async () => new Map(),
      listBreakers: async () => [...breakers.values()],
      saveBreaker: async (channelId: string, state: BreakerState, nowMs: number) => {
        breakers.set(channelId, { channelId, state, updatedMs: nowMs });
      },
    };
    const config = loadChannelsConfig(
      {
        channels: [
          { id: "a", model: "m", provider: "fake", api_key_env: "KEY", timeout_ms: 10_000 },
        ],
        breaker: { failure_threshold: 1, cool_down_ms: 1000 },
      },
      ["m"],
      { KEY: "k" },
      (m) => new Error(m),
    );
    const process = () =>
      new ChannelRouter({
        registry: new ProviderRegistry().register(fake),
        config,
        store,
        modelIds: () => ["m"],
        log: pino({ level: "silent" }),
        now: () => t,
        random: () => 0,
      });
    const dying = process();
    const survivor = process();
    await Promise.all([dying.reload(), survivor.reload()]);
    const signal = new AbortController().signal;

    (await dying.acquire("m", new Set(), signal))!.failed("service_error");
    t += 1000; // the cool-down is over: half-open
    const probe = await dying.acquire("m", new Set(), signal);
    expect(probe?.channel.id).toBe("a");
    // …and the dying process is SIGKILLed: the probe never settles.
    await new Promise((r) => setTimeout(r, 0)); // its writes have reached the store

    await survivor.syncCluster();
    expect(survivor.claimBudgets().get("m")).toBe(0); // one probe at a time
    t += 10_000 + 4_999;
    await survivor.syncCluster();
    expect(survivor.claimBudgets().get("m")).toBe(0); // the call may still be running
    t += 1;
    await survivor.syncCluster();
    expect(survivor.claimBudgets().get("m")).toBe(1); // presumed lost: one new probe
    const next = await survivor.acquire("m", new Set(), signal);
    expect(next?.channel.id).toBe("a");
    next!.succeeded();
    await new Promise((r) => setTimeout(r, 0));
    expect(breakers.get("a")?.state.state).toBe("closed");
  });
});

describe("breaker writes of one process", () => {
  it("reach the store in the order they happened, even when a write is slow", async () => {
    let t = 1_000_000;
    const saved: string[] = [];
    const pending: Array<() => void> = [];
    const store: ChannelStore = {
      listChannels: async () => [],
      createChannel: async () => true,
      updateChannel: async () => true,
      deleteChannel: async () => true,
      channelLoad: async () => new Map(),
      listBreakers: async () => [],
      // Each write completes only when the test says: a pool would run them side by side.
      saveBreaker: (_id: string, state: BreakerState) =>
        new Promise<void>((resolve) =>
          pending.push(() => {
            saved.push(`${state.state}${state.probing ? "+probing" : ""}`);
            resolve();
          }),
        ),
    };
    const router = new ChannelRouter({
      registry: new ProviderRegistry().register(fake),
      config: loadChannelsConfig(
        {
          channels: [{ id: "a", model: "m", provider: "fake", api_key_env: "KEY" }],
          breaker: { failure_threshold: 1, cool_down_ms: 1000 },
        },
        ["m"],
        { KEY: "k" },
        (m) => new Error(m),
      ),
      store,
      modelIds: () => ["m"],
      log: pino({ level: "silent" }),
      now: () => t,
      random: () => 0,
    });
    await router.reload();
    const signal = new AbortController().signal;
    (await router.acquire("m", new Set(), signal))!.failed("service_error");
    t += 1000;
    const probe = await router.acquire("m", new Set(), signal);
    probe!.succeeded();
    // Three transitions: open, half-open probing, closed. Only the first was sent so far.
    expect(pending).toHaveLength(1);
    while (pending.length > 0) {
      pending.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(saved).toEqual(["open", "half-open+probing", "closed"]);
  });
});
