/**
 * A channel's recent history for the admin health view: the last N calls' latencies
 * (p50/p95), their error codes, and running totals. Pure bookkeeping, no clock.
 */

export interface CallRecord {
  ok: boolean;
  latencyMs: number;
  code?: string;
  at: number;
}

export interface ChannelStatsView {
  successes: number;
  failures: number;
  latency_ms: { p50: number | null; p95: number | null; samples: number };
  recent_errors: Record<string, number>;
  last_error: { code: string; at: number } | null;
}

export class ChannelStats {
  private readonly recent: CallRecord[] = [];
  private successes = 0;
  private failures = 0;
  private lastError: { code: string; at: number } | null = null;

  constructor(private readonly window = 100) {}

  record(call: CallRecord): void {
    this.recent.push(call);
    if (this.recent.length > this.window) this.recent.shift();
    if (call.ok) this.successes++;
    else {
      this.failures++;
      this.lastError = { code: call.code ?? "unknown_error", at: call.at };
    }
  }

  view(): ChannelStatsView {
    const latencies = this.recent.map((c) => c.latencyMs).sort((a, b) => a - b);
    const recentErrors: Record<string, number> = {};
    for (const c of this.recent) {
      if (!c.ok)
        recentErrors[c.code ?? "unknown_error"] =
          (recentErrors[c.code ?? "unknown_error"] ?? 0) + 1;
    }
    return {
      successes: this.successes,
      failures: this.failures,
      latency_ms: {
        p50: percentile(latencies, 0.5),
        p95: percentile(latencies, 0.95),
        samples: latencies.length,
      },
      recent_errors: recentErrors,
      last_error: this.lastError,
    };
  }
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return Math.round(sorted[rank - 1]!);
}
