/**
 * Task reads share one SQLite read snapshot per event-loop turn (snapshot-reader.ts),
 * kept fresh by the connection (connection.ts). What must hold: a read never misses a
 * write this process has made, even in the same turn; another process's commit is seen
 * from the next turn on; reads in one turn agree.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { openSqlite } from "../../../src/store/sqlite/open.js";
import { SqliteWriter } from "../../../src/store/sqlite/writer.js";
import { submitInput } from "../../helpers/store.js";
import { openSqliteTestStore, type SqliteTestStore } from "./helpers.js";

const opened: SqliteTestStore[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

async function open(): Promise<SqliteTestStore> {
  const t = await openSqliteTestStore("1000");
  opened.push(t);
  return t;
}

async function submitted(t: SqliteTestStore): Promise<string> {
  const input = submitInput(t.principal);
  expect((await t.store.submitTask(input)).kind).toBe("created");
  return input.taskId;
}

describe("task reads in one snapshot per turn", () => {
  it("see every write this process makes, in the same turn, through the real write paths", async () => {
    const t = await open();
    const { store, principal } = t;
    const id = await submitted(t);
    const now = Date.now();
    // Each read below opens (or reuses) the turn's snapshot; no turn passes between them.
    expect(store.getTaskNow(principal.accountId, id)!.status).toBe("pending");
    const [claimed] = await store.claimTasks("r", 1, 30_000, now);
    expect(store.getTaskNow(principal.accountId, id)!.status).toBe("processing");
    await store.reportProgress(id, claimed!.leaseToken, 40, now);
    expect(store.getTaskNow(principal.accountId, id)!.progress).toBe(40);
    await store.finishTask(
      id,
      claimed!.leaseToken,
      { kind: "failed", code: "service_error", message: "x" },
      now,
    );
    const done = store.getTaskNow(principal.accountId, id)!;
    expect(done.status).toBe("failed");
    expect((await store.getTask(principal.accountId, id))!.status).toBe("failed");
  });

  it("see a write made through the connection, or by a cancel, in the same turn", async () => {
    const t = await open();
    const { store, principal, connection } = t;
    const id = await submitted(t);
    expect(store.getTaskNow(principal.accountId, id)!.progress).toBe(0);
    const setProgress = connection.prepare(`UPDATE tasks SET progress = ? WHERE id = ?`);
    await connection.write(() => setProgress.run(10, id));
    expect(store.getTaskNow(principal.accountId, id)!.progress).toBe(10);
    expect(await store.cancelTask(principal.accountId, id, Date.now())).toBe("cancelled");
    expect(store.getTaskNow(principal.accountId, id)!.status).toBe("failed");
  });

  it("see a submission written inline (no writer thread) in the same turn", async () => {
    const t = await openSqliteTestStore("1000", { writerThread: false });
    opened.push(t);
    const { store, principal, connection } = t;
    expect(connection.writerThreaded).toBe(false);
    const first = await submitted(t);
    const input = submitInput(principal);
    const answered = store.submitTask(input); // written by a setImmediate queued now
    // Opens a snapshot whose end-of-turn comes after that write and its answer.
    expect(store.getTaskNow(principal.accountId, first)!.status).toBe("pending");
    expect((await answered).kind).toBe("created");
    expect(store.getTaskNow(principal.accountId, input.taskId)?.status).toBe("pending");
  });

  it("see another connection's commit from the next turn on, and agree within a turn", async () => {
    const t = await open();
    const { store, principal } = t;
    const id = await submitted(t);
    const other = openSqlite(t.sqlitePath); // another process, as far as SQLite can tell
    try {
      expect(store.getTaskNow(principal.accountId, id)!.progress).toBe(0);
      other.prepare(`UPDATE tasks SET progress = 30 WHERE id = ?`).run(id);
      // Same turn: the snapshot this turn started with.
      expect(store.getTaskNow(principal.accountId, id)!.progress).toBe(0);
      await nextTurn();
      expect(store.getTaskNow(principal.accountId, id)!.progress).toBe(30);
    } finally {
      other.close();
    }
  });

  it("find a task the moment its submission is answered, even with the turn's snapshot older than it", async () => {
    const t = await open();
    const { store, principal } = t;
    const first = await submitted(t);
    const input = submitInput(principal);
    const answered = store.submitTask(input); // sent to the writer thread by a setImmediate
    const other = openSqlite(t.sqlitePath);
    const sleep = new Int32Array(new SharedArrayBuffer(4));
    try {
      await new Promise<void>((resolve) =>
        // Queued after the writer's: the batch is on its way to the thread.
        setImmediate(() => {
          // A snapshot from before the thread commits, still open when its answer is read.
          store.getTaskNow(principal.accountId, first);
          const exists = other.prepare(`SELECT 1 FROM tasks WHERE id = ?`).pluck();
          for (let i = 0; i < 100 && exists.get(input.taskId) === undefined; i++)
            Atomics.wait(sleep, 0, 0, 50);
          expect(exists.get(input.taskId)).toBe(1);
          resolve();
        }),
      );
      expect((await answered).kind).toBe("created");
      expect(store.getTaskNow(principal.accountId, input.taskId)?.status).toBe("pending");
    } finally {
      other.close();
    }
  });
});

describe("the writer's end-of-batch signal", () => {
  it.each([
    ["on the writer thread", true],
    ["inline", false],
  ])("comes before any submission of the batch is answered (%s)", async (_name, threaded) => {
    const t = await open();
    const events: string[] = [];
    const db = openSqlite(t.sqlitePath);
    const writer = new SqliteWriter(db, {
      threadFile: threaded ? t.sqlitePath : null,
      onBatchOver: () => events.push("committed"),
    });
    try {
      expect(await writer.ready).toBe(threaded);
      await Promise.all(
        [0, 1, 2].map((i) =>
          writer.submit(submitInput(t.principal)).then(() => events.push(`answered ${i}`)),
        ),
      );
      expect(events[0]).toBe("committed");
      expect(events.filter((e) => e.startsWith("answered"))).toHaveLength(3);
    } finally {
      await writer.close();
      db.close();
    }
  });
});
