/**
 * The writer thread: runs write batches (write-batch.ts) on its own connection, so the
 * event loop never waits for their statements or for the fsync that makes them durable.
 * The main thread decides what goes into each batch; this thread writes them one after
 * another, in the order they arrive, and answers each in that order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSqlite } from "./open.js";
import { WriteBatch } from "./write-batch.js";
import { toWire, type BatchReply, type ThreadMessage } from "./write-wire.js";

const port = parentPort;
if (!port) throw new Error("write-thread must run as a worker thread");
const db = openSqlite((workerData as { file: string }).file);
const batch = new WriteBatch(db);

port.on("message", (m: ThreadMessage) => {
  if (m.type === "close") {
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
});
port.postMessage({ type: "ready" } satisfies BatchReply);
