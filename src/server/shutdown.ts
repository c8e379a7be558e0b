/**
 * Graceful shutdown, in one place: the order in which a process stops so that nothing
 * accepted is dropped and nothing is billed twice (docs/operations.md#shutdown).
 *
 *   readiness false ─► listener closed (in-flight requests finish; idle keep-alive closed)
 *   ─► runner stops claiming; tasks not yet calling an upstream handed back at once;
 *      the rest get until the deadline, then are handed back (safe to repeat) or left
 *      for their lease to lapse (the crash rule fails and refunds them)
 *   ─► dispatcher stops claiming; sends in flight get until the deadline, then their
 *      leases are given back uncounted
 *   ─► connections still open at the deadline are cut ─► timers stopped
 *   ─► store closed after writing what is queued ─► one summary line
 *
 * The dispatcher keeps sending while the runner drains, so the callbacks of tasks that
 * finish in the drain go out from here. Every step is bounded by the one deadline
 * (plus what an abort takes), so the process exits within the grace an orchestrator
 * gives it.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Runner, RunnerStopReport } from "../runner/runner.js";
import type { DispatcherStopReport, WebhookDispatcher } from "../webhooks/dispatcher.js";

/** Requests in flight get at least this long, even on an immediate stop. */
const MIN_HTTP_DRAIN_MS = 1000;

export interface ShutdownParts {
  /** Makes /readyz answer 503 from now on. */
  markNotReady(): void;
  http: FastifyInstance;
  runner: Runner | null;
  dispatcher: WebhookDispatcher | null;
  /** Stops what only serves running work (channel reloads, wake-up subscriptions). */
  quiesce(): void;
  /** Writes what is queued, then closes the database. */
  closeStore(): Promise<void>;
  log: Logger;
}

export interface ShutdownSummary {
  graceMs: number;
  tookMs: number;
  /** `cut`: connections still open at the deadline were closed under their requests. */
  http: "drained" | "cut";
  tasks: RunnerStopReport | null;
  callbacks: DispatcherStopReport | null;
}

export async function shutdown(parts: ShutdownParts, graceMs: number): Promise<ShutdownSummary> {
  const started = Date.now();
  const deadline = started + graceMs;
  const left = () => Math.max(0, deadline - Date.now());
  parts.markNotReady();
  const http = closeHttp(parts.http, Math.max(graceMs, MIN_HTTP_DRAIN_MS));
  const tasks = parts.runner ? await parts.runner.stop(left()) : null;
  const callbacks = parts.dispatcher ? await parts.dispatcher.stop(left()) : null;
  const httpEnd = await http;
  parts.quiesce();
  await parts.closeStore();
  const summary: ShutdownSummary = {
    graceMs,
    tookMs: Date.now() - started,
    http: httpEnd,
    tasks,
    callbacks,
  };
  logSummary(parts.log, summary);
  return summary;
}

async function closeHttp(app: FastifyInstance, boundMs: number): Promise<"drained" | "cut"> {
  // Closes the listener now (Fastify's preClose marks the edge closing: requests still
  // arriving on open connections get 503 and `Connection: close`).
  const closed = app.close();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">(
    (resolve) => (timer = setTimeout(() => resolve("late"), boundMs)),
  );
  const first = await Promise.race([closed.then(() => "closed" as const), late]);
  clearTimeout(timer);
  if (first === "closed") return "drained";
  app.server.closeAllConnections();
  await closed;
  return "cut";
}

function logSummary(log: Logger, s: ShutdownSummary): void {
  const lapsing = s.tasks?.leftToLapse ?? [];
  const parts = [
    `http ${s.http}`,
    s.tasks
      ? `tasks: ${s.tasks.finished} finished, ${s.tasks.handedBack} handed back (claimable now), ` +
        `${lapsing.length} left to their lease (failed and refunded by the next runner), ` +
        `${s.tasks.leaseLost} owned elsewhere`
      : "no runner here",
    s.callbacks
      ? `callbacks: ${s.callbacks.recorded} attempts recorded, ${s.callbacks.handedBack} handed back (sent again by the next dispatcher)`
      : "no callback dispatcher here",
    "database closed after writing everything queued",
  ];
  log.info(
    {
      graceMs: s.graceMs,
      tookMs: s.tookMs,
      http: s.http,
      tasks: s.tasks,
      callbacks: s.callbacks,
    },
    `shutdown complete: ${parts.join("; ")}`,
  );
}
