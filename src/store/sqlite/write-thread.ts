/**
 * The writer thread: runs write batches (write-batch.ts) on its own connection, so the
 * event loop never waits for their statements or for the fsync that makes them durable.
 * The main thread decides what goes into each batch; this thread writes them one after
 * another, in the order they arrive, and answers each in that order.
 *
 * Checkpoints (copying the WAL into the database file, with an fsync of its own) are
 * made here too, but after a batch is answered: SQLite's automatic checkpoint runs
 * inside the COMMIT that crosses its threshold, and held that batch's answers for tens
 * of milliseconds. The main connection's automatic checkpoints are off while this thread
 * runs (writer.ts), so none lands on the event loop either.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSqlite } from "./open.js";
import { WriteBatch } from "./write-batch.js";
import { toWire, type BatchReply, type ThreadMessage } from "./write-wire.js";

const port = parentPort;
if (!port) throw new Error("write-thread must run as a worker thread");
const db = openSqlite((workerData as { file: string }).file);
db.pragma("wal_autocheckpoint = 0");
const batch = new WriteBatch(db);

/** At most this often, and this long after the last batch when writes stop. */
const CHECKPOINT_EVERY_MS = 500;
let lastCheckpoint = Date.now();
let idleCheckpoint: NodeJS.Timeout | null = null;

function checkpoint(): void {
  if (idleCheckpoint) clearTimeout(idleCheckpoint);
  idleCheckpoint = null;
  lastCheckpoint = Date.now();
  try {
    // PASSIVE: copies what no reader still needs, never waits for anyone.
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // Busy or failing now: the next one catches up; the WAL keeps every commit meanwhile.
  }
}

/** After an answer: a checkpoint when one is due, else one soon in case writes stop. */
function afterBatch(): void {
  if (Date.now() - lastCheckpoint >= CHECKPOINT_EVERY_MS) checkpoint();
  else if (!idleCheckpoint) {
    idleCheckpoint = setTimeout(checkpoint, CHECKPOINT_EVERY_MS);
    idleCheckpoint.unref();
  }
}

port.on("message", (m: ThreadMessage) => {
  if (m.type === "close") {
    checkpoint();
    db.close();
    port.close();
    return;
  }
  let reply: BatchReply;
  try {
    const outcomes = batch.run(m.ops);
    reply = {
      type: "done",
      outcomes: outcomes.map((o) => (o.ok ? o : { ok: false, error: toWire(o.error) })),
    };
  } catch (e) {
    reply = { type: "failed", error: toWire(e) };
  }
  port.postMessage(reply);
  afterBatch();
});
port.postMessage({ type: "ready" } satisfies BatchReply);
