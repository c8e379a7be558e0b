/**
 * `darkroom serve`: run the gateway until SIGTERM/SIGINT. `--role` (or DARKROOM_ROLE)
 * picks what this process runs: api, worker or all (the default).
 *
 * The first signal shuts down gracefully within DARKROOM_SHUTDOWN_GRACE_MS
 * (server/shutdown.ts) and exits 0; a second one exits at once, which loses nothing
 * either: every answered submission is durable and every lease held here lapses and is
 * taken over, exactly as after `kill -9`.
 */
import { ConfigError, loadConfig } from "../config/config.js";
import { createLogger } from "../obs/logger.js";
import type { BootstrapOutcome } from "../server/bootstrap.js";
import { startDarkroom } from "../server/darkroom.js";
import { startWithWorkerThread, type Served } from "../server/threaded.js";
import { yieldCpuToApi } from "../server/worker-priority.js";

export interface ServeOptions {
  /** Wins over DARKROOM_ROLE (commander has checked it is one of the roles). */
  role?: string;
}

export async function serve(opts: ServeOptions = {}): Promise<void> {
  let config;
  const env = opts.role ? { ...process.env, DARKROOM_ROLE: opts.role } : process.env;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`darkroom: configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config);
  if (config.role === "worker") yieldCpuToApi(config.workerNice, log);
  // In role `all`, the worker half gets a thread of its own unless told otherwise.
  const threaded =
    config.role === "all" &&
    config.workerThread &&
    (config.runner.enabled || config.webhooks.enabled);
  // Printed once, on the first start only (only hashes are stored), and as soon as they
  // exist: a start that fails after this (a port in use) must not lose them.
  const onBootstrapped = (b: BootstrapOutcome) => {
    const lines = [
      "",
      "  Darkroom initialised a new database.",
      b.generatedApiKey
        ? `  API key:      ${b.generatedApiKey}   (account "default")`
        : "  API key:      from DARKROOM_BOOTSTRAP_API_KEY",
      b.generatedAdminToken
        ? `  Admin token:  ${b.generatedAdminToken}`
        : "  Admin token:  from DARKROOM_ADMIN_TOKEN",
      "  These secrets are shown only now; store them somewhere safe.",
      "",
    ];
    process.stdout.write(lines.join("\n") + "\n");
  };
  // Signals are handled from before the start: one that arrives while the gateway is
  // still starting (listening, but not yet ready) stops it gracefully once it is up,
  // instead of killing it half-started.
  let dr: Served | null = null;
  let stopAfterStart: NodeJS.Signals | null = null;
  let signals = 0;
  const stop = (served: Served, signal: NodeJS.Signals) => {
    log.info(
      { signal, role: config.role, graceMs: config.shutdownGraceMs },
      "shutting down: not ready, not accepting, not claiming; draining",
    );
    served.stop(config.shutdownGraceMs).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn(
        { signal },
        "second signal: exiting now; leases held here lapse and other runners take them over",
      );
      process.exit(1);
    }
    if (dr) stop(dr, signal);
    else {
      stopAfterStart = signal;
      log.info({ signal }, "signal while starting: shutting down as soon as started");
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  dr = threaded
    ? await startWithWorkerThread(env, config, log, { onBootstrapped })
    : await startDarkroom(config, log, { onBootstrapped });
  if (dr.bootstrap.created) {
    const url = config.role === "worker" ? (config.publicUrl ?? dr.url) : dr.url;
    process.stdout.write(`  Darkroom is ready. API: ${url}/v1\n\n`);
  }
  if (stopAfterStart) stop(dr, stopAfterStart);
}
