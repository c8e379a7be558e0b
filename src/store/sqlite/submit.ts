/**
 * Submission on SQLite: group commit, written on a dedicated writer thread.
 *
 * Why group commit: with `synchronous=FULL` every COMMIT is an fsync of the WAL, and
 * an fsync costs far more than the statements. Submissions that arrive while a batch is
 * being written wait and go together in the next one (one transaction, one fsync).
 * Nobody is answered before their batch has committed, so a 200 always means "durable".
 *
 * Why a thread: the statements and the fsync of a batch took most of a submission's
 * time on the event loop, where they also held up every poll. The writer thread has
 * its own connection; SQLite makes a commit visible to other connections only after
 * it is durable, so reads on the main thread never see a write that could be lost.
 * At most two batches are in flight (one being written, one waiting at the thread),
 * and the main thread's own writes (the runner, cancels, the admin API) wait for their
 * turn (`turn()`) instead of meeting a locked database, whose busy handler would put
 * the whole event loop to sleep.
 *
 * If the thread cannot start or dies, submissions are written inline, on the main
 * connection, as before: slower, not lost. A batch that was in flight when the thread
 * died is looked up first, because it may have committed just before.
 */
import type { Database } from "better-sqlite3";
import type { Worker } from "node:worker_threads";
import type { SubmitInput, SubmitResult } from "../store.js";
import {
  createdTask,
  SubmitBatch,
  toSubmitRow,
  type SubmitRow,
  type WriteOutcome,
  type WriteResult,
} from "./submit-batch.js";
import { fromWire, type BatchReply, type ThreadMessage } from "./submit-wire.js";
import { startModuleThread } from "./thread.js";

/** Enough to amortise an fsync many times over while keeping one batch's reply prompt. */
const MAX_BATCH = 512;
/**
 * One batch being written and one waiting at the thread: the thread starts the next
 * the moment a commit ends instead of waiting for the event loop to read its answer
 * and send more. Batches still form while the previous one is written.
 */
const MAX_IN_FLIGHT = 2;

interface Pending {
  input: SubmitInput;
  row: SubmitRow;
  resolve(r: SubmitResult): void;
  reject(e: unknown): void;
}

export interface SubmitterOptions {
  /** The database file for the writer thread; null writes inline (":memory:", tests). */
  threadFile: string | null;
  /** Told when the writer thread fails; submissions carry on inline. */
  onThreadError?: (err: Error) => void;
  /**
   * A batch is over (committed or not, on the thread or inline), before anyone of it
   * is answered: the connection ends the poll snapshot so the answer can be read back.
   */
  onBatchOver?: () => void;
}

export class SqliteSubmitter {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Batches sent to the thread, oldest first; it answers them in order. */
  private inFlight: Pending[][] = [];
  private waiters: Array<() => void> = [];
  private thread: Worker | null = null;
  private readonly inline: SubmitBatch;
  private readonly taskExists;
  private markReady: (threaded: boolean) => void = () => {};
  /** Resolves once the thread takes batches (true), or it could not start (false). */
  readonly ready: Promise<boolean> = new Promise((resolve) => (this.markReady = resolve));

  constructor(
    db: Database,
    private readonly opts: SubmitterOptions,
  ) {
    this.inline = new SubmitBatch(db);
    this.taskExists = db.prepare(`SELECT 1 FROM tasks WHERE id = ?`).pluck();
    if (opts.threadFile) this.startThread(opts.threadFile);
    else this.markReady(false);
  }

  /** Whether batches currently go to the writer thread (false: inline). */
  get threaded(): boolean {
    return this.thread !== null;
  }

  submit(input: SubmitInput): Promise<SubmitResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, row: toSubmitRow(input), resolve, reject });
      this.schedule();
    });
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
      thread.postMessage({ type: "close" } satisfies ThreadMessage);
      await exited;
    }
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

  private dispatch(): void {
    if (!this.maySend()) return;
    const batch = this.queue.splice(0, MAX_BATCH);
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
      rows: batch.map((p) => p.row),
    } satisfies ThreadMessage);
  }

  private settleInline(batch: Pending[]): void {
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.inline.run(batch.map((p) => p.row));
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
      thread = startModuleThread(import.meta.url, "submit-thread", { workerData: { file } });
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
    this.markReady(false);
    this.opts.onThreadError?.(err);
    // Its last batch may have committed.
    this.opts.onBatchOver?.();
    const batches = this.inFlight;
    this.inFlight = [];
    this.releaseWaiters();
    // Each of the thread's transactions committed as a whole or not at all. A task that
    // exists was created; every other submission is decided again, inline (a refusal or
    // a replay writes nothing, so deciding it twice is harmless).
    const redo: Pending[] = [];
    for (const p of batches.flat()) {
      if (this.taskExists.get(p.input.taskId) !== undefined)
        p.resolve({ kind: "created", task: createdTask(p.input) });
      else redo.push(p);
    }
    if (redo.length > 0) this.settleInline(redo);
    this.schedule();
  }
}

function settle(p: Pending, o: WriteOutcome | { ok: false; error: Error }): void {
  if (!o.ok) {
    p.reject(o.error);
    return;
  }
  const r: WriteResult = o.value;
  p.resolve(r.kind === "created" ? { kind: "created", task: createdTask(p.input) } : r);
}
