/**
 * The claim loop. It knows no SQL and no provider: it asks the store for work, hands
 * each claimed task to the pipeline, keeps every lease alive with one batched
 * heartbeat, and aborts a task whose lease was lost or that the caller cancelled.
 *
 * Wake-ups: `wake()` (a submission in this process, a freed channel slot, a channel
 * whose breaker reopens, or a store that hears of work queued by another process) cuts
 * the idle sleep short; the poll interval bounds the delay otherwise, and for leases
 * that lapse.
 *
 * Queue expiry (issue 14): a task that waited as pending longer than `queueMaxWaitMs`
 * (every channel of its model open or full all that time) is failed with
 * service_unavailable and refunded in full, by the store's compare-and-set, so a claim
 * or a cancel racing with it, here or in another process, wins or loses whole. The loop
 * starts it beside a claim (its write joins the claim's batch), at most once a second
 * and EXPIRE_BATCH tasks at a time: off the request path, in small writes, and
 * idempotent across processes.
 *
 * Stopping (graceful shutdown) drains: no more claims; tasks whose upstream call has
 * not started are handed back at once (lease released, attempt not counted); the rest
 * get until the grace deadline to finish, then are aborted, and the pipeline hands
 * back those an upstream can safely repeat and leaves the others' leases to lapse, so
 * the crash rule decides them (task-lifecycle.md). Each task's fate is logged.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { WakeableSleep } from "../core/wakeable-sleep.js";
import type { ClaimedTask, ExpiredTask, Store } from "../store/store.js";

export interface RunnerOptions {
  /** The lease owner it claims as (also the channel router's, to tell its calls apart). */
  owner?: string;
  concurrency: number;
  leaseMs: number;
  pollIntervalMs: number;
  now?: () => number;
  /**
   * Free upstream slots per model (channels/router.ts): a model with none left is not
   * claimed, so its tasks wait as pending and other models' tasks go ahead.
   */
  claimBudgets?: () => ReadonlyMap<string, number>;
  /** A pending task older than this fails, refunded (see the header); null/absent = never. */
  queueMaxWaitMs?: number | null;
  /** Tasks this runner failed for waiting too long (their callbacks are queued). */
  onExpired?: (tasks: ExpiredTask[]) => void;
}

/**
 * Claims and heartbeats are synchronous on SQLite: with thousands of tasks in flight,
 * one statement batch for all of them would stall the event loop (polls, streams) for
 * tens of milliseconds. Batches of these sizes, with I/O let through between them,
 * keep each stall to a few milliseconds (BENCHMARKS.md, in-flight run).
 */
const CLAIM_BATCH = 256;
const HEARTBEAT_BATCH = 500;
/** Expired tasks per write: each is a settlement, so a long overdue queue goes in steps. */
const EXPIRE_BATCH = 100;
const EXPIRE_EVERY_MS = 1000;
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * How a task left this runner:
 * - `finished`: its terminal state (completed, failed, cancelled) was written here;
 * - `handed_back`: its lease was released without counting the attempt (no upstream
 *   call was running, or the running one is safe to repeat): claimable again at once;
 * - `left_to_lapse`: aborted mid-call on an upstream that may have charged; nothing
 *   written, the lease lapses and the next claim applies the crash rule (fail + refund);
 * - `lease_lost`: another runner owns the task now; nothing written.
 */
export type TaskExit = "finished" | "handed_back" | "left_to_lapse" | "lease_lost";

/**
 * Runs one claimed task to its end. `finishing()` says the task's work is done and only
 * its final write remains: the runner counts the slot free at once and claims the next
 * task in the same moment, so that claim joins the finish's group commit. `draining`
 * fires when the runner stops: a task whose upstream call has not started hands itself
 * back; one mid-call carries on until `signal` aborts it.
 */
export type TaskPipeline = (
  claimed: ClaimedTask,
  signal: AbortSignal,
  finishing: () => void,
  draining: AbortSignal,
) => Promise<TaskExit>;

/** What a stop did with the tasks in flight (counts per exit, and the ids left to lapse). */
export interface RunnerStopReport {
  finished: number;
  handedBack: number;
  leftToLapse: string[];
  leaseLost: number;
}

/** Why a running task was aborted; the pipeline decides what (if anything) to write. */
export class TaskAbort extends Error {
  constructor(readonly reason: "lease_lost" | "cancelled" | "shutdown") {
    super(`task aborted: ${reason}`);
    this.name = "TaskAbort";
  }
}

interface InFlight {
  claimed: ClaimedTask;
  controller: AbortController;
  /** Per task, not one shared signal: a long-lived signal would collect a listener per task. */
  drain: AbortController;
  done: Promise<void>;
  /** Its work is done and its final write queued: its slot counts as free. */
  finishing: boolean;
}

/** A lease owner id for a runner: unique per process start. */
export function newRunnerOwner(): string {
  return `runner-${randomBytes(6).toString("hex")}`;
}

export class Runner {
  readonly owner: string;
  private readonly inFlight = new Map<string, InFlight>();
  private running = false;
  /** Set by stop(): tasks launched from now on are told to hand themselves back. */
  private draining = false;
  /** While stopping: how the tasks that ended since the stop began ended. */
  private report: RunnerStopReport | null = null;
  private loopDone: Promise<void> | null = null;
  private readonly idle = new WakeableSleep();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeating = false;
  /** In flight but finishing (see TaskPipeline): not counted against the concurrency. */
  private finishingCount = 0;
  private readonly now: () => number;
  /** When the loop next looks for overdue pending tasks, and whether it is looking now. */
  private nextExpiryAt = 0;
  private expiring: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly pipeline: TaskPipeline,
    private readonly opts: RunnerOptions,
    private readonly log: Logger,
  ) {
    this.now = opts.now ?? Date.now;
    this.owner = opts.owner ?? newRunnerOwner();
  }

  get activeCount(): number {
    return this.inFlight.size;
  }

  /** Claiming (started and not stopping): what a worker's readiness reports. */
  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.draining = false;
    this.heartbeatTimer = setInterval(
      () => void this.heartbeat(),
      Math.max(200, Math.floor(this.opts.leaseMs / 3)),
    );
    this.heartbeatTimer.unref();
    this.loopDone = this.loop();
  }

  /**
   * Stops a task this runner is working on because its owner cancelled it; resolves
   * once the pipeline has settled it (false if the task is not running here).
   * Runners in other processes notice through the heartbeat instead.
   */
  async cancel(taskId: string): Promise<boolean> {
    const f = this.inFlight.get(taskId);
    if (!f) return false;
    f.controller.abort(new TaskAbort("cancelled"));
    await f.done;
    return true;
  }

  /** Cuts the idle wait short: there may be new work. */
  wake(): void {
    this.idle.wake();
  }

  /**
   * Stops claiming and drains: tasks not yet calling an upstream are handed back at
   * once; the others get `graceMs` to finish, then are aborted (see TaskExit for what
   * each one comes to). Heartbeats go on until the last task has settled, so no lease
   * lapses while its task is still finishing. Resolves when nothing runs here anymore.
   */
  async stop(graceMs = 0): Promise<RunnerStopReport> {
    const report: RunnerStopReport = { finished: 0, handedBack: 0, leftToLapse: [], leaseLost: 0 };
    if (!this.running) return report;
    this.running = false;
    this.draining = true;
    this.report = report;
    this.wake();
    for (const f of this.inFlight.values()) f.drain.abort();
    // A claim already under way still launches its tasks; they see `draining` at once.
    await this.loopDone;
    await this.expiring;
    const settled = () => Promise.allSettled([...this.inFlight.values()].map((f) => f.done));
    if (graceMs > 0 && this.inFlight.size > 0) {
      this.log.info(
        { inFlight: this.inFlight.size, graceMs },
        "runner draining: waiting for tasks mid-call",
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        settled(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const f of this.inFlight.values()) f.controller.abort(new TaskAbort("shutdown"));
    await settled();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.report = null;
    return report;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      // Not awaited: its write joins the claim's batch (one commit), and never delays it.
      this.expireOverdue();
      const busy = this.inFlight.size - this.finishingCount;
      const want = Math.min(this.opts.concurrency - busy, CLAIM_BATCH);
      let claimed: ClaimedTask[] = [];
      if (want > 0) {
        try {
          claimed = await this.store.claimTasks(
            this.owner,
            want,
            this.opts.leaseMs,
            this.now(),
            this.opts.claimBudgets?.(),
          );
        } catch (err) {
          this.log.error({ err }, "claiming tasks failed; retrying after the poll interval");
        }
        for (const c of claimed) this.launch(c);
      }
      // A full batch suggests more work is waiting: claim again once pending I/O has run.
      if (claimed.length > 0 && claimed.length === want) {
        await yieldToIo();
        continue;
      }
      if (!this.running) break;
      await this.idle.sleep(this.opts.pollIntervalMs);
    }
  }

  /** Fails a batch of tasks that waited longer than the queue allows (see the header). */
  private expireOverdue(): void {
    const maxWait = this.opts.queueMaxWaitMs;
    const t = this.now();
    if (!maxWait || this.expiring || t < this.nextExpiryAt) return;
    this.nextExpiryAt = t + Math.min(EXPIRE_EVERY_MS, maxWait);
    this.expiring = this.expireBatch(t, maxWait).finally(() => (this.expiring = null));
  }

  private async expireBatch(t: number, maxWait: number): Promise<void> {
    try {
      const expired = await this.store.expirePending(
        t - maxWait,
        EXPIRE_BATCH,
        {
          code: "service_unavailable",
          message: `No upstream could take the task within ${Math.ceil(maxWait / 1000)} s; it was not started and was refunded in full.`,
        },
        t,
      );
      if (expired.length === 0) return;
      this.log.warn({ count: expired.length }, "failed tasks that waited too long for a channel");
      this.opts.onExpired?.(expired);
      if (expired.length === EXPIRE_BATCH) {
        this.nextExpiryAt = t; // more may be overdue: look again at the next turn
        this.wake();
      }
    } catch (err) {
      this.log.error({ err }, "expiring overdue tasks failed; retrying later");
    }
  }

  private launch(claimed: ClaimedTask): void {
    const controller = new AbortController();
    const drain = new AbortController();
    if (this.draining) drain.abort();
    const id = claimed.task.id;
    const entry: InFlight = {
      claimed,
      controller,
      drain,
      done: Promise.resolve(),
      finishing: false,
    };
    const finishing = () => {
      if (entry.finishing || this.inFlight.get(id) !== entry) return;
      entry.finishing = true;
      this.finishingCount++;
      this.wake(); // a slot is (as good as) free: claim now, into the same batch
    };
    entry.done = this.pipeline(claimed, controller.signal, finishing, drain.signal)
      .then(
        (exit) => this.noteExit(id, exit),
        (err: unknown) => this.log.error({ err, taskId: id }, "task pipeline crashed"),
      )
      .finally(() => {
        if (entry.finishing) this.finishingCount--;
        this.inFlight.delete(id);
        this.wake(); // a slot is free
      });
    this.inFlight.set(id, entry);
  }

  /** While stopping, every task's fate is counted and logged (what was left, and where). */
  private noteExit(taskId: string, exit: TaskExit): void {
    const report = this.report;
    if (!report) return;
    switch (exit) {
      case "finished":
        report.finished++;
        this.log.info({ taskId }, "shutdown: task finished");
        break;
      case "handed_back":
        report.handedBack++;
        this.log.info({ taskId }, "shutdown: task handed back; the next claim runs it");
        break;
      case "left_to_lapse":
        report.leftToLapse.push(taskId);
        this.log.warn(
          { taskId, leaseMs: this.opts.leaseMs },
          "shutdown: task stopped mid-call on an upstream that may have charged; its lease lapses and the next claim fails and refunds it",
        );
        break;
      case "lease_lost":
        report.leaseLost++;
        this.log.info(
          { taskId },
          "shutdown: task's lease was already lost; another runner owns it",
        );
        break;
    }
  }

  private async heartbeat(): Promise<void> {
    // A heartbeat slower than its interval must not overlap the next one.
    if (this.inFlight.size === 0 || this.heartbeating) return;
    this.heartbeating = true;
    const leases = [...this.inFlight.values()].map((f) => ({
      taskId: f.claimed.task.id,
      leaseToken: f.claimed.leaseToken,
    }));
    try {
      for (let i = 0; i < leases.length; i += HEARTBEAT_BATCH) {
        if (i > 0) await yieldToIo();
        const { lost, cancelRequested } = await this.store.heartbeat(
          this.owner,
          leases.slice(i, i + HEARTBEAT_BATCH),
          this.opts.leaseMs,
          this.now(),
        );
        for (const id of lost) this.inFlight.get(id)?.controller.abort(new TaskAbort("lease_lost"));
        for (const id of cancelRequested)
          this.inFlight.get(id)?.controller.abort(new TaskAbort("cancelled"));
      }
    } catch (err) {
      this.log.error({ err }, "lease heartbeat failed");
    } finally {
      this.heartbeating = false;
    }
  }
}
