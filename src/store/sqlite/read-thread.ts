/**
 * Reads that must see everything (the consistency audit) run here: on a short-lived
 * worker thread with a read-only connection of its own, in one read transaction, so
 * the main thread's event loop never waits for them and they see one consistent
 * snapshot while writes carry on (WAL: the snapshot holds back checkpoints, nothing
 * else, until it ends).
 *
 * The thread runs a few lines of plain JavaScript given here, not a module of ours: it
 * needs only the driver, so it starts in tens of milliseconds whether Darkroom runs
 * from its build or from TypeScript sources, where a module thread first loads tsx
 * (threads/module-thread.ts) and took most of a second.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: true });
try {
  db.pragma("busy_timeout = 5000");
  const read = db.transaction(() => workerData.statements.map((sql) => db.prepare(sql).all()));
  parentPort.postMessage({ results: read() });
} catch (e) {
  parentPort.postMessage({ error: e instanceof Error ? e.message : String(e) });
} finally {
  db.close();
}
`;

const driver = createRequire(import.meta.url).resolve("better-sqlite3");

/** Each statement's rows (as objects), all read in one snapshot of `file`, off this thread. */
export function readOnThread(file: string, statements: readonly string[]): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD, { eval: true, workerData: { driver, file, statements } });
    let answered = false;
    worker.once("message", (m: { results: unknown[][] } | { error: string }) => {
      answered = true;
      if ("results" in m) resolve(m.results);
      else reject(new Error(`a read on its own thread failed: ${m.error}`));
    });
    worker.once("error", (err) => {
      answered = true;
      reject(err);
    });
    worker.once("exit", (code) => {
      if (!answered) reject(new Error(`the reading thread exited (${code}) without an answer`));
    });
  });
}
