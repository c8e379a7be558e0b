/**
 * What the process itself is doing, for operators and the benchmark: memory and the
 * event loop's delay. The delay histogram is rolled over every `windowMs`, so the
 * figures describe the last complete window (a spike an hour ago does not linger),
 * while `max_since_start_ms` keeps the worst ever seen.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface LoopDelayWindow {
  window_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

/** How often the histogram samples the loop, in ms. */
const RESOLUTION_MS = 10;

/**
 * A recorded interval as the loop's lateness, in ms. Node records the whole time between
 * two samples, the sampling interval included (an idle loop reads 10.1 ms): the lateness
 * is what exceeds it.
 */
const lateMs = (v: number) => Math.max(0, Math.round((v / 1e6 - RESOLUTION_MS) * 100) / 100);

export class ProcessMonitor {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private last: LoopDelayWindow | null = null;
  private worstMs = 0;
  private readonly startedMs = Date.now();

  constructor(private readonly windowMs = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
    this.timer = setInterval(() => this.roll(), windowMs);
    this.timer.unref();
  }

  private roll(): void {
    const h = this.histogram;
    if (h.count > 0) {
      this.last = {
        window_s: this.windowMs / 1000,
        p50_ms: lateMs(h.percentile(50)),
        p99_ms: lateMs(h.percentile(99)),
        max_ms: lateMs(h.max),
        mean_ms: lateMs(h.mean),
      };
      this.worstMs = Math.max(this.worstMs, this.last.max_ms);
    }
    h.reset();
  }

  snapshot() {
    const m = process.memoryUsage();
    return {
      uptime_s: Math.round((Date.now() - this.startedMs) / 1000),
      memory: { rss_bytes: m.rss, heap_used_bytes: m.heapUsed, external_bytes: m.external },
      event_loop_delay: { last_window: this.last, max_since_start_ms: this.worstMs },
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
