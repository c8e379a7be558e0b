import { describe, expect, it } from "vitest";
import { SlidingWindowLimiter } from "../../src/http/plugins/limiter.js";

describe("SlidingWindowLimiter", () => {
  it("admits up to the limit within a window, then says how long to wait", () => {
    const l = new SlidingWindowLimiter(60_000);
    const t0 = 6_000_000; // a window boundary
    for (let i = 0; i < 5; i++) expect(l.hit("k", 5, t0 + i).ok).toBe(true);
    const refused = l.hit("k", 5, t0 + 10);
    expect(refused).toEqual({ ok: false, retryAfterSeconds: 60 });
  });

  it("weighs the previous window by its overlap: no double burst at the edge", () => {
    const l = new SlidingWindowLimiter(60_000);
    const t0 = 6_000_000;
    for (let i = 0; i < 10; i++) expect(l.hit("k", 10, t0 + 59_000).ok).toBe(true);
    // Just after the boundary almost all of the previous window still counts.
    expect(l.hit("k", 10, t0 + 60_001).ok).toBe(false);
    // Half-way through the next window half of it has slid out: 5 more fit, not 10.
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (l.hit("k", 10, t0 + 90_000).ok) admitted++;
    expect(admitted).toBe(5);
    // Two windows later the old traffic is forgotten.
    expect(l.hit("k", 10, t0 + 180_000).ok).toBe(true);
  });

  it("keeps keys apart and bounds its memory", () => {
    const l = new SlidingWindowLimiter(60_000, 3);
    expect(l.hit("a", 1, 0).ok).toBe(true);
    expect(l.hit("a", 1, 1).ok).toBe(false);
    expect(l.hit("b", 1, 1).ok).toBe(true);
    for (const k of ["c", "d", "e"]) l.count(k, 2);
    // "a" was evicted (oldest first): it starts again from zero.
    expect(l.peek("a", 3)).toBe(0);
  });
});
