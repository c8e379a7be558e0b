// Preloaded into the gateway by the scale benchmark (`node --import ./bench/loop-probe.js
// bin/darkroom.js serve`): the event loop's delay over exactly one measurement. The
// gateway's own GET /admin/v1/status reports it over fixed 10 s windows, which do not
// line up with 5 s measurements. On SIGUSR2 this appends the delay since the last
// SIGUSR2 (same histogram settings as src/obs/process-monitor.ts) as one JSON line to
// BENCH_LOOP_FILE, then starts over.
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.BENCH_LOOP_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  process.on("SIGUSR2", () => {
    const line = {
      samples: h.count,
      p50_ms: ms(h.percentile(50)),
      p99_ms: ms(h.percentile(99)),
      max_ms: ms(h.max),
      mean_ms: ms(h.mean),
    };
    h.reset();
    appendFileSync(file, JSON.stringify(line) + "\n");
  });
}
