/**
 * `darkroom serve` in role `all` with DARKROOM_WORKER_THREAD (the default): the API on
 * the main thread, the worker half (runner, callbacks, retention) on a thread of its
 * own (server/worker-thread.ts). The two share nothing but the database, as an `api`
 * and a `worker` process would, so a runner working flat out leaves the API its event
 * loop, and the process still starts and stops as one.
 */
import type { Logger } from "pino";
import type { Config, Env } from "../config/config.js";
import type { BootstrapOutcome } from "./bootstrap.js";
import { startDarkroom, type StartOptions } from "./darkroom.js";
import type { ShutdownSummary } from "./shutdown.js";
import { WorkerLink } from "./worker-link.js";

/** What `darkroom serve` holds of a running gateway, whichever way it was started. */
export interface Served {
  url: string;
  bootstrap: BootstrapOutcome;
  stop(graceMs?: number): Promise<ShutdownSummary>;
}

/** `env` is what `config` was loaded from: the thread loads its own from it. */
export async function startWithWorkerThread(
  env: Env,
  config: Config,
  log: Logger,
  opts: Pick<StartOptions, "onBootstrapped"> = {},
): Promise<Served> {
  const link = new WorkerLink(log.child({ component: "worker-thread" }));
  const api = await startDarkroom(
    {
      ...config,
      runner: { ...config.runner, enabled: false },
      webhooks: { ...config.webhooks, enabled: false },
    },
    log,
    { remoteWorker: link, ...opts },
  );
  try {
    await link.start({
      ...env,
      DARKROOM_ROLE: "worker",
      // Result links in callbacks point where the API listens.
      DARKROOM_PUBLIC_URL: api.publicUrl,
      // Counted by the API thread's /metrics, from the events the thread forwards.
      DARKROOM_METRICS: "false",
    });
  } catch (err) {
    await api.stop(0);
    throw err;
  }
  log.info(
    { address: api.url, role: config.role, dataDir: config.dataDir, workerThread: true },
    "darkroom is ready",
  );
  return {
    url: api.url,
    bootstrap: api.bootstrap,
    async stop(graceMs = 0) {
      const [front, back] = await Promise.all([api.stop(graceMs), link.stop(graceMs)]);
      return { ...front, tasks: back?.tasks ?? null, callbacks: back?.callbacks ?? null };
    },
  };
}
