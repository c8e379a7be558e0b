/**
 * The worker half of `darkroom serve` in role `all`: the runner, the callback
 * dispatcher and the janitor, on a thread of their own, so that a busy runner (HTTP to
 * the upstream, image checks, the pipeline's bookkeeping) never takes the API's event
 * loop. server/worker-link.ts starts it; it opens its own store on the same database,
 * exactly as a `--role worker` process would, and listens on no port.
 *
 * It logs its own lifecycle lines; its events go to the API thread, whose /metrics
 * counts them, batched every EVENTS_EVERY_MS: a message per turn was a tenth of this
 * thread's time at 700 tasks/s, and nothing reads them sooner than a scrape.
 */
import type { EventEmitter } from "node:events";
import { parentPort, workerData } from "node:worker_threads";
import { loadConfig } from "../config/config.js";
import { DARKROOM_EVENT_NAMES } from "../obs/events.js";
import { createLogger } from "../obs/logger.js";
import { startDarkroom } from "./darkroom.js";
import { yieldCpuToApi } from "./worker-priority.js";
import type { ForwardedEvent, FromWorker, ToWorker, WorkerThreadData } from "./worker-messages.js";

const STATUS_EVERY_MS = 250;
const EVENTS_EVERY_MS = 25;

async function run(port: NonNullable<typeof parentPort>): Promise<void> {
  const post = (m: FromWorker) => port.postMessage(m);
  const config = loadConfig((workerData as WorkerThreadData).env);
  const log = createLogger(config).child({ thread: "worker" });
  yieldCpuToApi(config.workerNice, log);
  const dr = await startDarkroom(config, log, { listen: false });

  let batch: ForwardedEvent[] = [];
  let flushing: NodeJS.Timeout | null = null;
  const flush = () => {
    if (flushing) clearTimeout(flushing);
    flushing = null;
    if (batch.length === 0) return;
    post({ type: "events", events: batch });
    batch = [];
  };
  const bus: EventEmitter = dr.events;
  for (const name of DARKROOM_EVENT_NAMES) {
    bus.on(name, (payload: ForwardedEvent[1]) => {
      flushing ??= setTimeout(flush, EVENTS_EVERY_MS);
      batch.push([name, payload] as ForwardedEvent);
    });
  }

  const load = () => ({
    inFlight: dr.runner?.activeCount ?? 0,
    concurrency: config.runner.concurrency,
    running: dr.runner ? dr.runner.isRunning : true,
  });
  const status = setInterval(() => post({ type: "status", ...load() }), STATUS_EVERY_MS);

  port.on("message", (m: ToWorker) => {
    switch (m.type) {
      case "wake":
        if (m.kind === "tasks") dr.runner?.wake();
        else dr.webhooks?.wake();
        break;
      case "cancel":
        void (dr.runner?.cancel(m.taskId) ?? Promise.resolve(false))
          .catch((err: unknown) => log.warn({ err, taskId: m.taskId }, "cancel failed"))
          .finally(() => post({ type: "cancelled", taskId: m.taskId }));
        break;
      case "stop":
        clearInterval(status);
        void dr.stop(m.graceMs).then((summary) => {
          flush();
          post({ type: "stopped", summary });
          port.close();
        });
        break;
    }
  });
  post({ type: "ready", ...load() });
}

if (!parentPort) throw new Error("worker-thread.ts runs only as a worker thread");
const port = parentPort;
run(port).catch((err: unknown) => {
  port.postMessage({
    type: "failed",
    message: err instanceof Error ? err.message : String(err),
  } satisfies FromWorker);
  port.close();
});
