/**
 * Sliding-window counters in memory: per-key requests-per-minute, and failed
 * authentications per client address (repeated bad keys from one address are slowed
 * down with 429 before they reach the database).
 *
 * The estimate weighs the previous window by how much of it still overlaps the last
 * 60 s (the "sliding window counter" of Cloudflare's write-up): no 2× burst at window
 * edges, O(1) memory per key. Counters are per process; with several API processes
 * each enforces the limit on its own share of traffic.
 */
export class SlidingWindowLimiter {
  private readonly windows = new Map<string, { start: number; prev: number; curr: number }>();

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxEntries = 100_000,
  ) {}

  /** Counts one hit if under `limit`; otherwise returns the seconds to wait. */
  hit(
    id: string,
    limit: number,
    nowMs: number,
  ): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const w = this.window(id, nowMs);
    const overlap = 1 - (nowMs - w.start) / this.windowMs;
    const estimate = w.prev * overlap + w.curr;
    if (estimate + 1 > limit) {
      // Wait until enough of the previous window has slid out (or the current one ends).
      const needed = estimate + 1 - limit;
      const waitMs =
        w.prev > 0 && needed <= w.prev * overlap
          ? (needed / w.prev) * this.windowMs
          : w.start + this.windowMs - nowMs;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    w.curr += 1;
    return { ok: true };
  }

  /** Counts without limiting (failures), returning the sliding estimate. */
  count(id: string, nowMs: number): number {
    const w = this.window(id, nowMs);
    w.curr += 1;
    return w.prev * (1 - (nowMs - w.start) / this.windowMs) + w.curr;
  }

  peek(id: string, nowMs: number): number {
    const w = this.windows.get(id);
    if (!w) return 0;
    const cur = this.window(id, nowMs);
    return cur.prev * (1 - (nowMs - cur.start) / this.windowMs) + cur.curr;
  }

  private window(id: string, nowMs: number) {
    let w = this.windows.get(id);
    const start = nowMs - (nowMs % this.windowMs);
    if (!w) {
      if (this.windows.size >= this.maxEntries)
        this.windows.delete(this.windows.keys().next().value!);
      w = { start, prev: 0, curr: 0 };
      this.windows.set(id, w);
    } else if (w.start !== start) {
      w.prev = start - w.start === this.windowMs ? w.curr : 0;
      w.curr = 0;
      w.start = start;
    }
    return w;
  }
}
