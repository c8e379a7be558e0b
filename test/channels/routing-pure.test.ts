/** The pure routing pieces: tier selection, weighted picks, the breaker, fault classes, stats. */
import { describe, expect, it } from "vitest";
import {
  breakerAdmits,
  breakerOnFailure,
  breakerOnNeutral,
  breakerOnStart,
  breakerOnSuccess,
  closedBreaker,
  currentBreaker,
  type BreakerState,
} from "../../src/core/breaker.js";
import { countsAgainstChannel } from "../../src/channels/fault.js";
import { bestTier, pickChannel, weightedPick } from "../../src/channels/select.js";
import { ChannelStats, percentile } from "../../src/channels/stats.js";

/** A seeded generator so a statistical failure reproduces. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe("tier selection", () => {
  it("keeps only the lowest priority number", () => {
    const c = [
      { id: "b", priority: 1, weight: 1 },
      { id: "a", priority: 0, weight: 1 },
      { id: "c", priority: 0, weight: 5 },
      { id: "d", priority: 2, weight: 1 },
    ];
    expect(bestTier(c).map((x) => x.id)).toEqual(["a", "c"]);
    expect(bestTier([])).toEqual([]);
  });

  it("a tier that is gone (busy or open) spills over to the next one", () => {
    const c = [
      { id: "p1", priority: 1, weight: 1 },
      { id: "p2", priority: 2, weight: 1 },
    ];
    expect(pickChannel(c, Math.random)?.id).toBe("p1");
    expect(pickChannel(c.slice(1), Math.random)?.id).toBe("p2");
    expect(pickChannel([], Math.random)).toBeUndefined();
  });

  it("weights 3:1 split 10,000 picks about 75/25", () => {
    const tier = [
      { id: "heavy", priority: 0, weight: 3 },
      { id: "light", priority: 0, weight: 1 },
    ];
    const rand = lcg(7);
    let heavy = 0;
    for (let i = 0; i < 10_000; i++) if (weightedPick(tier, rand)?.id === "heavy") heavy++;
    expect(heavy / 10_000).toBeGreaterThan(0.73);
    expect(heavy / 10_000).toBeLessThan(0.77);
  });

  it("maps the random range onto the weights exactly at the edges", () => {
    const tier = [
      { id: "a", priority: 0, weight: 1 },
      { id: "b", priority: 0, weight: 1 },
    ];
    expect(weightedPick(tier, () => 0)?.id).toBe("a");
    expect(weightedPick(tier, () => 0.4999)?.id).toBe("a");
    expect(weightedPick(tier, () => 0.5)?.id).toBe("b");
    expect(weightedPick(tier, () => 0.99999)?.id).toBe("b");
  });
});

describe("circuit breaker", () => {
  const s = { failureThreshold: 3, coolDownMs: 1000 };
  const fail = (b: BreakerState, t: number, ra?: number) => breakerOnFailure(b, t, s, ra);

  it("opens after N consecutive failures; a success in between resets the count", () => {
    let b = closedBreaker();
    b = fail(fail(b, 0), 1);
    expect(b.state).toBe("closed");
    b = breakerOnSuccess(b);
    b = fail(fail(b, 2), 3);
    expect(b.state).toBe("closed");
    b = fail(b, 4);
    expect(b.state).toBe("open");
    expect(breakerAdmits(b, 500)).toBe(false);
  });

  it("half-opens after the cool-down, lets exactly one probe through, closes on success", () => {
    let b = fail(fail(fail(closedBreaker(), 0), 0), 0);
    expect(currentBreaker(b, 999).state).toBe("open");
    expect(currentBreaker(b, 1000).state).toBe("half-open");
    expect(breakerAdmits(b, 1000)).toBe(true);
    b = breakerOnStart(b, 1000, 10_000);
    expect(b).toMatchObject({ state: "half-open", probing: true });
    expect(breakerAdmits(b, 1001)).toBe(false); // only one probe
    b = breakerOnSuccess(b);
    expect(b).toEqual(closedBreaker());
  });

  it("a failed probe opens it again for a fresh cool-down", () => {
    let b = fail(fail(fail(closedBreaker(), 0), 0), 0);
    b = breakerOnStart(b, 1500, 10_000);
    b = fail(b, 1600);
    expect(b.state).toBe("open");
    expect(breakerAdmits(b, 2599)).toBe(false);
    expect(breakerAdmits(b, 2600)).toBe(true);
  });

  it("a neutral end of the probe frees it without deciding", () => {
    let b = fail(fail(fail(closedBreaker(), 0), 0), 0);
    b = breakerOnStart(b, 1000, 10_000);
    b = breakerOnNeutral(b, 1001);
    expect(b).toMatchObject({ state: "half-open", probing: false });
    expect(breakerAdmits(b, 1002)).toBe(true);
  });

  it("a failure with Retry-After opens at once, for that long", () => {
    const b = fail(closedBreaker(), 100, 5000);
    expect(b.state).toBe("open");
    expect(breakerAdmits(b, 5099)).toBe(false);
    expect(breakerAdmits(b, 5100)).toBe(true);
  });
});

describe("whose fault", () => {
  it("counts upstream faults, not the caller's", () => {
    for (const c of [
      "service_error",
      "generation_timeout",
      "resource_exhausted",
      "service_unavailable",
    ] as const)
      expect(countsAgainstChannel(c)).toBe(true);
    for (const c of [
      "content_policy_violation",
      "invalid_parameters",
      "request_cancelled",
    ] as const)
      expect(countsAgainstChannel(c)).toBe(false);
  });
});

describe("channel stats", () => {
  it("reports p50/p95 of the recent window, recent error counts and totals", () => {
    const st = new ChannelStats(10);
    for (let i = 1; i <= 20; i++)
      st.record({ ok: i % 5 !== 0, latencyMs: i * 10, code: "service_error", at: i });
    const v = st.view();
    expect(v.successes).toBe(16);
    expect(v.failures).toBe(4);
    expect(v.latency_ms).toEqual({ p50: 150, p95: 200, samples: 10 });
    expect(v.recent_errors).toEqual({ service_error: 2 });
    expect(v.last_error).toEqual({ code: "service_error", at: 20 });
    expect(percentile([], 0.5)).toBeNull();
  });
});
