/**
 * Every write of the hot paths on SQLite — submissions; the runner's claims, channel
 * marks, progress, heartbeats and finishes; cancels; the webhook dispatcher's leases and
 * attempts — goes through here: group commit, on a dedicated writer thread.
 *
 * Why group commit: with `synchronous=FULL` every COMMIT is an fsync of the WAL, and
 * an fsync costs far more than the statements. Writes that arrive while a batch is
 * being written wait and go together in the next one (one transaction, one fsync,
 * write-batch.ts). Nobody is answered before their batch has committed, so an answer
 * always means "durable".
 *
 * Why a thread: the statements and the fsync of a batch took most of a submission's
 * time on the event loop, and a busy runner's commits (three or four per task) cut
 * the submissions beside it to a tenth. The writer thread has its own connection;
 * SQLite makes a commit visible to other connections only after it is durable, so reads
 * on the main thread never see a write that could be lost. At most two batches are in
 * flight (one being written, one waiting at the thread), and the main thread's own
 * writes (the admin API, channel changes) wait for their turn (`turn()`) instead of
 * meeting a locked database, whose busy handler would put the whole event loop to sleep.
 *
 * A write that says nothing new is not made: a task's progress waiting in the queue is
 * replaced by a newer one, and dropped when the task's finish joins the queue (the finish
 * writes progress 100 or leaves the task failed, either way the step is moot).
 *
 * If the thread cannot start or dies, writes run inline, on the main connection, as
 * before: slower, not lost. Of a batch that was in flight when the thread died, a
 * submission whose task exists was committed; every other submission is decided again
 * inline (a refusal or a replay writes nothing, so deciding twice is harmless). The
 * runner's writes of that batch fail with an error: whether they committed is unknown,
 * and the runner treats an error as it treats a crash (the lease lapses, the task is
 * taken over under the rules for repeated attempts).
 */
import type { Database } from "better-sqlite3";
import type { Worker } from "node:worker_threads";
import type { SubmitInput, SubmitResult } from "../store.js";
import { createdTask, toSubmitRow, type WriteResult } from "./submit-batch.js";
import { startModuleThread } from "../../threads/module-thread.js";
import {
  WriteBatch,
  type WriteOp,
  type WriteOpOf,
  type WriteOutcome,
  type WriteResults,
} from "./write-batch.js";
import { fromWire, type BatchReply, type ThreadMessage } from "./write-wire.js";

/** Enough to amortise an fsync many times over while keeping one batch's reply prompt. */
const MAX_BATCH = 512;
/**
 * One batch being written and one waiting at the thread: the thread starts the next
 * the moment a commit ends instead of waiting for the event loop to read its answer
 * and send more. Batches still form while the previous one is written.
 */
const MAX_IN_FLIGHT = 2;

interface Pending {
  op: WriteOp;
  /** Submissions: what the caller asked, to build the created task's record. */
  input?: SubmitInput;
  resolve(value: unknown): void;
  reject(e: unknown): void;
  /** Answered without being written (superseded); skipped when the batch is formed. */
  dropped?: boolean;
}

export interface WriterOptions {
  /** The database file for the writer thread; null writes inline (":memory:", tests). */
  threadFile: string | null;
  /** Told when the writer thread fails; writes carry on inline. */
  onThreadError?: (err: Error) => void;
  /**
   * A batch is over (committed or not, on the thread or inline), before any write of it
   * is answered: the connection ends the poll snapshot so the answer can be read back.
   */
  onBatchOver?: () => void;
}

export class SqliteWriter {
  private queue: Pending[] = [];
  /** The progress write of each task still waiting in the queue. */
  private readonly queuedProgress = new Map<string, Pending>();
  private scheduled = false;
  /** Batches sent to the thread, oldest first; it answers them in order. */
  private inFlight: Pending[][] = [];
  private waiters: Array<() => void> = [];
  private thread: Worker | null = null;
  private readonly inline: WriteBatch;
  private readonly taskExists;
  private markReady: (threaded: boolean) => void = () => {};
  /** Resolves once the thread takes batches (true), or it could not start (false). */
  readonly ready: Promise<boolean> = new Promise((resolve) => (this.markReady = resolve));

  constructor(
    private readonly db: Database,
    private readonly opts: WriterOptions,
  ) {
    this.inline = new WriteBatch(db);
    this.taskExists = db.prepare(`SELECT estimated_s FROM tasks WHERE id = ?`).pluck();
    if (opts.threadFile) this.startThread(opts.threadFile);
    else this.markReady(false);
  }

  /** Whether batches currently go to the writer thread (false: inline). */
  get threaded(): boolean {
    return this.thread !== null;
  }

  async submit(input: SubmitInput): Promise<SubmitResult> {
    const r = (await this.push({
      op: { kind: "submit", row: toSubmitRow(input) },
      input,
    })) as WriteResult;
    return r.kind === "created"
      ? { kind: "created", task: createdTask(input, r.estimatedSeconds) }
      : r;
  }

  /** Any other write, answered once its batch has committed. */
  write<K extends Exclude<WriteOp["kind"], "submit">>(op: WriteOpOf<K>): Promise<WriteResults[K]> {
    const o: WriteOp = op;
    if (o.kind === "progress" || o.kind === "finish") this.supersedeProgress(o.taskId);
    const p = this.push({ op: o }) as Promise<WriteResults[K]>;
    if (o.kind === "progress") this.queuedProgress.set(o.taskId, this.queue.at(-1)!);
    return p;
  }

  /**
   * Resolves when no batch is being written. A main-thread write that starts right
   * after (synchronously) cannot meet the thread's lock: batches are only sent from
   * this thread, and never before waiting writes have had their turn.
   */
  turn(): Promise<void> {
    if (this.inFlight.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Writes what is queued, then stops the thread. */
  async close(): Promise<void> {
    while (this.inFlight.length > 0 || this.queue.length > 0) {
      await this.turn();
      if (this.inFlight.length === 0 && this.queue.length > 0) this.dispatch();
    }
    const thread = this.thread;
    this.thread = null;
    if (thread) {
      const exited = new Promise((resolve) => thread.once("exit", resolve));
      // An idle thread is unref'd; a close awaited with nothing else pending (the last
      // step of a shutdown) would otherwise let the process exit before the thread did.
      thread.ref();
      thread.postMessage({ type: "close" } satisfies ThreadMessage);
      await exited;
    }
  }

  private push(p: Omit<Pending, "resolve" | "reject">): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...p, resolve, reject });
      this.schedule();
    });
  }

  /** A newer write about the task makes its queued progress step moot: answered, not made. */
  private supersedeProgress(taskId: string): void {
    const older = this.queuedProgress.get(taskId);
    if (!older) return;
    this.queuedProgress.delete(taskId);
    older.dropped = true;
    older.resolve(true);
  }

  private schedule(): void {
    if (this.scheduled || !this.maySend()) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every request already read in this turn of the
    // event loop joins the batch, and writers released by turn() go first.
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  /** Something is queued, the thread has room, and no main-thread write waits its turn. */
  private maySend(): boolean {
    return (
      this.queue.length > 0 && this.inFlight.length < MAX_IN_FLIGHT && this.waiters.length === 0
    );
  }

  /** The next batch: up to MAX_BATCH writes, leaving out those already answered. */
  private take(): Pending[] {
    const batch: Pending[] = [];
    let i = 0;
    for (; i < this.queue.length && batch.length < MAX_BATCH; i++) {
      const p = this.queue[i]!;
      if (p.dropped) continue;
      if (p.op.kind === "progress") this.queuedProgress.delete(p.op.taskId);
      batch.push(p);
    }
    this.queue.splice(0, i);
    return batch;
  }

  private dispatch(): void {
    if (!this.maySend()) return;
    const batch = this.take();
    if (batch.length === 0) return;
    if (!this.thread) {
      this.settleInline(batch);
      this.schedule();
      return;
    }
    this.inFlight.push(batch);
    // A batch in flight keeps the process alive; an idle thread does not.
    this.thread.ref();
    this.thread.postMessage({
      type: "batch",
      ops: batch.map((p) => p.op),
    } satisfies ThreadMessage);
  }

  private settleInline(batch: Pending[]): void {
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.inline.run(batch.map((p) => p.op));
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    } finally {
      this.opts.onBatchOver?.();
    }
    batch.forEach((p, i) => settle(p, outcomes[i]!));
  }

  /** Takes the oldest batch in flight, whose answer this is. */
  private finishFlight(): Pending[] {
    const batch = this.inFlight.shift() ?? [];
    if (this.inFlight.length === 0) {
      this.thread?.unref();
      this.releaseWaiters();
    }
    return batch;
  }

  /**
   * Lets main-thread writes that waited run (in the next microtasks). New batches wait
   * until then: schedule() sends them after the microtasks, with setImmediate.
   */
  private releaseWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private onReply(reply: BatchReply): void {
    if (reply.type === "ready") {
      if (this.inFlight.length === 0) this.thread?.unref();
      // The thread checkpoints after its answers; this connection must not do it inside
      // a commit on the event loop meanwhile.
      this.db.pragma("wal_autocheckpoint = 0");
      this.markReady(true);
      return;
    }
    this.opts.onBatchOver?.();
    const released = this.waiters.length > 0 && this.inFlight.length === 1;
    const batch = this.finishFlight();
    // Keep the thread busy: what queued up meanwhile goes now, before this batch's
    // answers are written out, unless main-thread writes were just given their turn.
    if (!released) this.dispatch();
    if (reply.type === "failed") {
      const err = fromWire(reply.error);
      for (const p of batch) p.reject(err);
    } else {
      batch.forEach((p, i) => {
        const o = reply.outcomes[i]!;
        settle(p, o.ok ? o : { ok: false, error: fromWire(o.error) });
      });
    }
    this.schedule();
  }

  private startThread(file: string): void {
    let thread: Worker;
    try {
      thread = startModuleThread(import.meta.url, "write-thread", { workerData: { file } });
    } catch (e) {
      this.opts.onThreadError?.(e instanceof Error ? e : new Error(String(e)));
      this.markReady(false);
      return;
    }
    this.thread = thread;
    thread.on("message", (m: BatchReply) => this.onReply(m));
    thread.on("error", (e) => this.onThreadGone(thread, e));
    thread.on("exit", (code) => {
      if (this.thread === thread) this.onThreadGone(thread, new Error(`exited with ${code}`));
    });
    // Referenced until it is ready (someone waits for that), then only while a batch is
    // out: an idle thread must not keep a finished process alive.
  }

  private onThreadGone(thread: Worker, err: Error): void {
    if (this.thread !== thread) return;
    this.thread = null;
    this.db.pragma("wal_autocheckpoint = 1000"); // SQLite's default: nobody else checkpoints now
    this.markReady(false);
    this.opts.onThreadError?.(err);
    // Its last batch may have committed.
    this.opts.onBatchOver?.();
    const batches = this.inFlight;
    this.inFlight = [];
    this.releaseWaiters();
    // Each of the thread's transactions committed as a whole or not at all.
    const redo: Pending[] = [];
    const unknown = new Error(
      `the writer thread stopped (${err.message}) before confirming this write; it may or may not have been made`,
    );
    for (const p of batches.flat()) {
      if (p.op.kind !== "submit") {
        p.reject(unknown);
        continue;
      }
      const estimated = this.taskExists.get(p.op.row.taskId) as number | undefined;
      if (estimated !== undefined)
        p.resolve({ kind: "created", estimatedSeconds: Number(estimated) } satisfies WriteResult);
      else redo.push(p);
    }
    if (redo.length > 0) this.settleInline(redo);
    this.schedule();
  }
}

function settle(p: Pending, o: WriteOutcome): void {
  if (o.ok) p.resolve(o.value);
  else p.reject(o.error);
}
