import { describe, expect, it } from "vitest";
import {
  SlidingWindowLimiter,
  type ShareWindows,
  type WindowCount,
} from "../../src/http/plugins/limiter.js";

/** The store's side of sharing, in memory: totals per id and window. */
function sharedTotals(): { share: ShareWindows; totals: Map<string, number> } {
  const totals = new Map<string, number>();
  const share: ShareWindows = async (added) => {
    for (const a of added)
      totals.set(
        `${a.id}@${a.windowStartMs}`,
        (totals.get(`${a.id}@${a.windowStartMs}`) ?? 0) + a.n,
      );
    const ids = new Set(added.map((a) => a.id));
    const out: WindowCount[] = [];
    for (const [k, n] of totals) {
      const [id, start] = k.split("@");
      if (ids.has(id!)) out.push({ id: id!, windowStartMs: Number(start), n });
    }
    return out;
  };
  return { share, totals };
}

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

  it("shares hits between processes: each counts the others' as of the last share", async () => {
    const { share, totals } = sharedTotals();
    const a = new SlidingWindowLimiter(60_000);
    const b = new SlidingWindowLimiter(60_000);
    const t0 = 6_000_000;
    for (let i = 0; i < 6; i++) expect(a.hit("k", 10, t0 + i).ok).toBe(true);
    expect(b.hit("k", 10, t0 + 10).ok).toBe(true);
    await a.share(share, t0 + 20);
    await b.share(share, t0 + 20);
    expect(totals.get(`k@${t0}`)).toBe(7);
    // b now knows a's 6: 7 of 10 are spent, 3 remain for b.
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (b.hit("k", 10, t0 + 30).ok) admitted++;
    expect(admitted).toBe(3);
    // Once b has shared them, a learns b's 4 at its next share; nothing counts twice.
    await b.share(share, t0 + 35);
    await a.share(share, t0 + 40);
    expect(totals.get(`k@${t0}`)).toBe(10);
    expect(a.hit("k", 10, t0 + 50).ok).toBe(false);
    // In the next minute the previous one still weighs, others' hits included.
    await b.share(share, t0 + 60_000 + 30_000);
    expect(b.hit("k", 10, t0 + 90_000).ok).toBe(true);
    let more = 0;
    for (let i = 0; i < 10; i++) if (b.hit("k", 10, t0 + 90_000).ok) more++;
    expect(more).toBe(4); // half of 10 from the previous minute + 1 already: 4 left
  });

  it("hits counted while a share fails are shared the next time", async () => {
    const { share, totals } = sharedTotals();
    const l = new SlidingWindowLimiter(60_000);
    const t0 = 6_000_000;
    l.hit("k", 100, t0);
    l.hit("k", 100, t0 + 1);
    await expect(l.share(async () => Promise.reject(new Error("down")), t0 + 2)).rejects.toThrow();
    l.hit("k", 100, t0 + 3);
    await l.share(share, t0 + 4);
    expect(totals.get(`k@${t0}`)).toBe(3);
    // Hits at the end of a minute, after its last share, still reach the total.
    l.hit("k", 100, t0 + 59_999);
    await l.share(share, t0 + 60_500);
    expect(totals.get(`k@${t0}`)).toBe(4);
  });
});
