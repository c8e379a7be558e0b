// Preloaded into the gateway by the scale benchmark (`node --import ./bench/loop-probe.js
// bin/darkroom.js serve`): the event loop's delay over exactly one measurement. The
// gateway's own GET /admin/v1/status reports it over fixed 10 s windows, which do not
// line up with 5 s measurements. On SIGUSR2 this appends the delay since the last
// SIGUSR2 as one JSON line to BENCH_LOOP_FILE, then starts over.
//
// Node's histogram records the whole interval between two ticks of its timer, the
// resolution included: an idle process reads p50 10.1 ms at a 10 ms resolution (1.1 ms
// at 1 ms). What is reported here is the lateness, the interval minus the resolution.
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const RESOLUTION_MS = 10; // as src/obs/process-monitor.ts samples
const file = process.env.BENCH_LOOP_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const late = (ns) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
  process.on("SIGUSR2", () => {
    const line = {
      samples: h.count,
      p50_ms: late(h.percentile(50)),
      p99_ms: late(h.percentile(99)),
      max_ms: late(h.max),
      mean_ms: late(h.mean),
    };
    h.reset();
    appendFileSync(file, JSON.stringify(line) + "\n");
  });
}
