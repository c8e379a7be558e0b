/**
 * Durable file writes off the event loop, in batches: callers queue files; a worker
 * thread (fs-write-thread.ts) writes each batch with writeFilesDurably — temp file,
 * fsync, rename, and one fsync per directory for the whole batch — and answers once.
 *
 * Why: written with fs/promises, one image took a dozen hops through libuv's pool
 * (mkdir, open, write, fsync, close, rename, and open/fsync/close for each directory),
 * each a wake-up of a pool thread and a callback on the event loop; at hundreds of
 * images a second those hops were the runner's largest cost on a two-core machine.
 * Here an image costs a share of one message each way.
 *
 * A few threads write at once, each its own batch; what arrives meanwhile waits for the
 * next idle one. If a thread dies, the files of its batch fail (their tasks fail and
 * are refunded, or are retried) and a new thread takes its place. Where no thread can
 * start at all, batches are written inline: blocking, but never lost.
 */
import type { Worker } from "node:worker_threads";
import { startModuleThread } from "../threads/module-thread.js";
import { writeFilesDurably, type FileOutcome, type FileToWrite } from "./durable-files.js";
import type { FileThreadMessage, FileThreadReply } from "./fs-write-thread.js";

/**
 * Threads writing at once. An fsync mostly waits for the disk: a second thread takes
 * the next batch while the first waits, and the file system commits their fsyncs
 * together (ext4's journal does). More threads meant smaller batches, and a batch's
 * messages (about 50 µs of CPU each way on this VM) cost more than the waits they saved.
 */
const THREADS = 2;
/** Enough to share directory fsyncs widely; small enough to answer the first file soon. */
const MAX_BATCH_FILES = 64;
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

interface Pending {
  file: FileToWrite;
  /** The caller handed the bytes over: they move to the thread without a copy. */
  handOver: boolean;
  resolve(): void;
  reject(e: Error): void;
}

interface WriterThread {
  worker: Worker;
  /** The batch it is writing; null when idle. */
  batch: Pending[] | null;
}

export class FileWriter {
  private queue: Pending[] = [];
  private readonly threads: WriterThread[] = [];
  private inline = false;
  private scheduled = false;

  /**
   * Resolves once `data` is durable under `target` (an absolute path). `handOver`: the
   * caller never reads `data` again, so its memory may move to the writer thread (it is
   * then empty) instead of being copied, about a tenth of the runner thread's time per
   * image at 700 images/s.
   */
  write(target: string, data: Uint8Array, handOver = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ file: { target, data }, handOver, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Starts the writer threads now and resolves once they run, so the first images after
   * a start do not wait for a thread to load (a few hundred ms on a busy machine: at
   * 20 tasks/s the first 5 % of tasks after a start took 70–400 ms longer).
   */
  async warm(): Promise<void> {
    const starting: Array<Promise<void>> = [];
    while (this.threads.length < THREADS && !this.inline) {
      const thread = this.startThread();
      if (thread === null || thread === "busy") break;
      // Referenced while starting: an event loop with nothing else to do (a worker
      // thread's, at its start) must not end while it waits for this one.
      thread.worker.ref();
      starting.push(
        new Promise<void>((resolve) => {
          const started = () => {
            if (!thread.batch) thread.worker.unref();
            resolve();
          };
          thread.worker.once("online", started);
          thread.worker.once("error", started);
        }),
      );
    }
    await Promise.all(starting);
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // Every file handed over in this turn of the event loop joins a batch.
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  /** Hands what is queued to idle threads, a batch each, starting threads up to THREADS. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      const thread = this.idleThread();
      if (thread === "busy") return; // the next answer dispatches again
      const batch = this.take(MAX_BATCH_FILES);
      if (thread === null) {
        settle(batch, writeFilesDurably(batch.map((p) => p.file)));
        continue;
      }
      thread.batch = batch;
      thread.worker.ref();
      const message = {
        type: "batch",
        files: batch.map((p) => p.file),
      } satisfies FileThreadMessage;
      const moved = new Set<ArrayBuffer>();
      for (const p of batch) if (p.handOver) movable(p.file.data, moved);
      try {
        thread.worker.postMessage(message, [...moved]);
      } catch {
        // A buffer that cannot move (native memory): copy them all instead.
        thread.worker.postMessage(message);
      }
    }
  }

  private take(want: number): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < want) {
      bytes += this.queue[n]!.file.data.length;
      n++;
      if (bytes >= MAX_BATCH_BYTES) break;
    }
    return this.queue.splice(0, n);
  }

  /** An idle thread (started if need be), "busy" when all are, null to write inline. */
  private idleThread(): WriterThread | "busy" | null {
    const idle = this.threads.find((t) => !t.batch);
    if (idle) return idle;
    return this.startThread();
  }

  /** A new thread, "busy" when THREADS run already, null when none can start. */
  private startThread(): WriterThread | "busy" | null {
    if (this.threads.length >= THREADS) return "busy";
    if (this.inline) return null;
    let worker: Worker;
    try {
      worker = startModuleThread(import.meta.url, "fs-write-thread", {});
    } catch {
      // No thread can start here: write inline, blocking but never lost.
      this.inline = true;
      return this.threads.length > 0 ? "busy" : null;
    }
    const thread: WriterThread = { worker, batch: null };
    worker.on("message", (m: FileThreadReply) => {
      const batch = thread.batch ?? [];
      thread.batch = null;
      worker.unref();
      settle(batch, m.outcomes);
      this.schedule();
    });
    const gone = (err: Error) => {
      const at = this.threads.indexOf(thread);
      if (at < 0) return;
      this.threads.splice(at, 1);
      const batch = thread.batch ?? [];
      thread.batch = null;
      for (const p of batch) p.reject(new Error(`the file writer thread stopped: ${err.message}`));
      this.schedule();
    };
    worker.on("error", gone);
    worker.on("exit", (code) => gone(new Error(`exited with ${code}`)));
    worker.unref();
    this.threads.push(thread);
    return thread;
  }
}

/** Adds `data`'s memory to `moved` when `data` is all of it (not a view into a pool). */
function movable(data: Uint8Array, moved: Set<ArrayBuffer>): void {
  const buffer = data.buffer;
  if (
    buffer instanceof ArrayBuffer &&
    data.byteOffset === 0 &&
    data.byteLength === buffer.byteLength &&
    buffer.byteLength > 0
  )
    moved.add(buffer);
}

function settle(batch: Pending[], outcomes: FileOutcome[]): void {
  batch.forEach((p, i) => {
    const o = outcomes[i];
    if (o?.ok) return p.resolve();
    const err = new Error(o?.message ?? "the file was not written") as Error & { code?: string };
    if (o && !o.ok && o.code) err.code = o.code;
    p.reject(err);
  });
}

let shared: FileWriter | null = null;

/** The process's one file writer: every storage root shares its threads. */
export function fileWriter(): FileWriter {
  shared ??= new FileWriter();
  return shared;
}
