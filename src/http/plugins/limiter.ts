/**
 * Sliding-window counters in memory: per-key requests-per-minute, and failed
 * authentications per client address (repeated bad keys from one address are slowed
 * down with 429 before they reach the database).
 *
 * The estimate weighs the previous window by how much of it still overlaps the last
 * 60 s (the "sliding window counter" of Cloudflare's write-up): no 2× burst at window
 * edges, O(1) memory per key.
 *
 * Shared across processes (`share`, per-key rpm limits): every second or so each
 * process adds the hits it counted to the deployment's totals in the store and learns
 * the other processes' hits, which then count here too. Between two shares a process
 * knows only its own new hits, so a deployment of N API processes may let through up
 * to N × (one share interval of traffic) more than the limit: a second's worth each.
 */
interface Window {
  start: number;
  prev: number;
  curr: number;
  /** Hits of `curr` already added to the shared totals. */
  shared: number;
  /** Hits of `prev` counted after its last share, still to be added. */
  prevUnshared: number;
  /** Other processes' hits in the previous and current window, as of the last share. */
  othersPrev: number;
  othersCurr: number;
}

/** Hits counted by a process for one key in one window (`n`): what crosses to the store. */
export interface WindowCount {
  id: string;
  windowStartMs: number;
  n: number;
}

/**
 * Adds each process's new hits to the shared totals and answers the totals of these
 * ids' windows (each one's current and previous window).
 */
export type ShareWindows = (added: WindowCount[], nowMs: number) => Promise<WindowCount[]>;

export class SlidingWindowLimiter {
  private readonly windows = new Map<string, Window>();

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
    const prev = w.prev + w.othersPrev;
    const estimate = prev * overlap + w.curr + w.othersCurr;
    if (estimate + 1 > limit) {
      // Wait until enough of the previous window has slid out (or the current one ends).
      const needed = estimate + 1 - limit;
      const waitMs =
        prev > 0 && needed <= prev * overlap
          ? (needed / prev) * this.windowMs
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
      w = { start, prev: 0, curr: 0, shared: 0, prevUnshared: 0, othersPrev: 0, othersCurr: 0 };
      this.windows.set(id, w);
    } else if (w.start !== start) {
      const next = start - w.start === this.windowMs;
      w.prev = next ? w.curr : 0;
      w.othersPrev = next ? w.othersCurr : 0;
      w.prevUnshared = next ? w.curr - w.shared : 0;
      w.curr = 0;
      w.shared = 0;
      w.othersCurr = 0;
      w.start = start;
    }
    return w;
  }

  /**
   * Shares this process's hits with the deployment's and learns the others' (see the
   * top of this file). Covers every id seen in the last two windows.
   */
  async share(share: ShareWindows, nowMs: number): Promise<void> {
    const added: WindowCount[] = [];
    const sent = new Map<string, { w: Window; start: number; curr: number; prev: number }>();
    // Ids seen in the last two windows; `window()` rolls each one to the current minute.
    for (const [id, w0] of this.windows) {
      if (nowMs - w0.start >= 2 * this.windowMs) continue;
      const w = this.window(id, nowMs);
      added.push({ id, windowStartMs: w.start, n: w.curr - w.shared });
      if (w.prevUnshared > 0)
        added.push({ id, windowStartMs: w.start - this.windowMs, n: w.prevUnshared });
      sent.set(id, { w, start: w.start, curr: w.curr, prev: w.prev });
      w.shared = w.curr;
      w.prevUnshared = 0;
    }
    if (added.length === 0) return;
    let totals: WindowCount[];
    try {
      totals = await share(added, nowMs);
    } catch (err) {
      // Not shared: counted again next time.
      for (const a of added) {
        const s = sent.get(a.id)!;
        if (s.w.start !== s.start) continue;
        if (a.windowStartMs === s.start) s.w.shared -= a.n;
        else s.w.prevUnshared += a.n;
      }
      throw err;
    }
    for (const t of totals) {
      const s = sent.get(t.id);
      // The window moved on while the share was away: its figures are stale.
      if (!s || s.w.start !== s.start) continue;
      if (t.windowStartMs === s.start) s.w.othersCurr = Math.max(0, t.n - s.curr);
      else if (t.windowStartMs === s.start - this.windowMs)
        s.w.othersPrev = Math.max(0, t.n - s.prev);
    }
  }
}
