/**
 * The API thread's side of `darkroom serve` in role `all` with DARKROOM_WORKER_THREAD
 * (the default): starts server/worker-thread.ts, hands it wake-ups and cancels, reads
 * its load and events, restarts it if it dies, and stops it with the process.
 *
 * A thread that dies loses nothing: its leases lapse and the restarted thread (a new
 * runner) takes the tasks over, exactly as after a worker process's `kill -9`. Until it
 * is back, /readyz says the runner is not running.
 */
import type { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { Env } from "../config/config.js";
import { DarkroomEventBus, type DarkroomEvents } from "../obs/events.js";
import type { WakeupKind } from "../store/wakeups.js";
import { startModuleThread } from "../threads/module-thread.js";
import type { ShutdownSummary } from "./shutdown.js";
import type { FromWorker, ToWorker, WorkerLoad, WorkerThreadData } from "./worker-messages.js";

/** What the API half needs of a worker half that runs elsewhere. */
export interface RemoteWorker {
  /** Work may be waiting: claim now (coalesced, at most one message per turn and kind). */
  wake(kind: WakeupKind): void;
  /** Stops the task if it runs there; resolves once it is settled (or was not running). */
  cancel(taskId: string): Promise<void>;
  /** Its last reported load; null while it starts or restarts. */
  status(): WorkerLoad | null;
  /** Its lifecycle events, re-emitted here (for the metrics). */
  readonly events: DarkroomEventBus;
}

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A cancel waits this long for the thread's answer (it answers at once if the task is not there). */
const CANCEL_WAIT_MS = 30_000;
/** After its stop answer, the thread gets this long to end on its own before it is terminated. */
const EXIT_WAIT_MS = 2_000;

export class WorkerLink implements RemoteWorker {
  readonly events = new DarkroomEventBus();
  private thread: Worker | null = null;
  private load: WorkerLoad | null = null;
  private readonly pendingWakes = new Set<WakeupKind>();
  private readonly cancels = new Map<string, Array<() => void>>();
  private restartDelayMs = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<ShutdownSummary | null> | null = null;
  private onStopped: ((summary: ShutdownSummary) => void) | null = null;

  private env: Env = {};

  constructor(private readonly log: Logger) {}

  /**
   * Starts the thread with the environment it loads its config from (a `worker` role's);
   * resolves when its runner is up, rejects with its error if it cannot start.
   */
  start(env: Env): Promise<void> {
    this.env = env;
    return new Promise((resolve, reject) => this.spawn(resolve, reject));
  }

  wake(kind: WakeupKind): void {
    if (!this.thread || this.pendingWakes.has(kind)) return;
    if (this.pendingWakes.size === 0) setImmediate(() => this.sendWakes());
    this.pendingWakes.add(kind);
  }

  cancel(taskId: string): Promise<void> {
    if (!this.thread) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, CANCEL_WAIT_MS);
      const waiting = this.cancels.get(taskId) ?? [];
      function done() {
        clearTimeout(timer);
        resolve();
      }
      waiting.push(done);
      this.cancels.set(taskId, waiting);
      this.send({ type: "cancel", taskId });
    });
  }

  status(): WorkerLoad | null {
    return this.load;
  }

  /** Stops the thread within `graceMs` (server/shutdown.ts there); null if it was not running. */
  stop(graceMs: number): Promise<ShutdownSummary | null> {
    this.stopping ??= this.stopThread(graceMs);
    return this.stopping;
  }

  private async stopThread(graceMs: number): Promise<ShutdownSummary | null> {
    clearTimeout(this.restartTimer);
    const thread = this.thread;
    if (!thread) return null;
    const exited = new Promise<void>((resolve) => thread.once("exit", () => resolve()));
    const summary = await new Promise<ShutdownSummary | null>((resolve) => {
      this.onStopped = resolve;
      thread.once("exit", () => resolve(null));
      this.send({ type: "stop", graceMs });
    });
    const timer = setTimeout(() => void thread.terminate(), EXIT_WAIT_MS);
    await exited;
    clearTimeout(timer);
    return summary;
  }

  private spawn(onReady?: () => void, onFailed?: (err: Error) => void): void {
    const data: WorkerThreadData = { env: this.env };
    const thread = startModuleThread(import.meta.url, "worker-thread", {
      workerData: data,
      name: "darkroom-worker",
    });
    this.thread = thread;
    let failure: string | null = null;
    let readyAt = 0;
    thread.on("message", (m: FromWorker) => {
      switch (m.type) {
        case "ready":
          readyAt = Date.now();
          this.load = { inFlight: m.inFlight, concurrency: m.concurrency, running: m.running };
          onReady?.();
          break;
        case "status":
          this.load = { inFlight: m.inFlight, concurrency: m.concurrency, running: m.running };
          break;
        case "events":
          for (const [name, payload] of m.events) this.emitForwarded(name, payload);
          break;
        case "cancelled":
          for (const done of this.cancels.get(m.taskId) ?? []) done();
          this.cancels.delete(m.taskId);
          break;
        case "failed":
          failure = m.message;
          break;
        case "stopped":
          this.onStopped?.(m.summary);
          break;
      }
    });
    thread.on("error", (err) => {
      failure = err.message;
      this.log.error({ err }, "the worker thread failed");
    });
    thread.on("exit", (code) => {
      this.thread = null;
      this.load = null;
      for (const waiting of this.cancels.values()) for (const done of waiting) done();
      this.cancels.clear();
      if (this.stopping) return;
      if (!readyAt && onFailed) {
        onFailed(new Error(failure ?? `the worker thread exited with code ${code}`));
        return;
      }
      // It ran a while: start again from the shortest delay.
      if (readyAt && Date.now() - readyAt > 60_000) this.restartDelayMs = RESTART_MIN_MS;
      this.log.error(
        { code, reason: failure, restartInMs: this.restartDelayMs },
        "the worker thread stopped; its leases lapse and a new one takes its tasks over",
      );
      this.restartTimer = setTimeout(() => this.spawn(), this.restartDelayMs);
      this.restartTimer.unref();
      this.restartDelayMs = Math.min(RESTART_MAX_MS, this.restartDelayMs * 2);
    });
  }

  private emitForwarded<E extends keyof DarkroomEvents>(
    name: E,
    payload: DarkroomEvents[E][0],
  ): void {
    // The pairing of name and payload was checked where the thread posted it.
    (this.events.emit as (n: E, p: DarkroomEvents[E][0]) => boolean)(name, payload);
  }

  private sendWakes(): void {
    for (const kind of this.pendingWakes) this.send({ type: "wake", kind });
    this.pendingWakes.clear();
  }

  private send(m: ToWorker): void {
    this.thread?.postMessage(m);
  }
}
