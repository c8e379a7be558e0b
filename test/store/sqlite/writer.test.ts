/**
 * Submissions written by the writer thread (and inline, where there is none): group
 * commit, refusals that leave nothing behind, one bad submission failing alone, main-
 * thread writes taking turns with the thread, and the thread dying at any moment.
 */
import { statSync } from "node:fs";
import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { newTaskId } from "../../../src/core/ids.js";
import type {
  SqliteConnection,
  SqliteConnectionOptions,
} from "../../../src/store/sqlite/connection.js";
import type { KeyPrincipal, SubmitInput, SubmitResult } from "../../../src/store/store.js";
import { ledgerInvariants } from "../../helpers/server.js";
import { submitInput } from "../../helpers/store.js";
import { openSqliteTestStore, scalar, type SqliteTestStore } from "./helpers.js";

const PRICE = 1_800_000;
const opened: SqliteTestStore[] = [];

afterEach(async () => {
  for (const t of opened.splice(0)) {
    await ledgerInvariants(t.admin);
    await t.close();
  }
});

async function open(credits: string, opts: SqliteConnectionOptions = {}): Promise<SqliteTestStore> {
  const t = await openSqliteTestStore(credits, opts);
  opened.push(t);
  return t;
}

/** A valid one-image submission reserving PRICE. */
function input(principal: KeyPrincipal, taskId?: string): SubmitInput {
  return submitInput(principal, { taskId, priceMicros: PRICE });
}

/** The writer thread, for the tests that kill it. */
function threadOf(conn: SqliteConnection): Worker {
  // The connection keeps its writer and thread private; only these tests need them.
  const { writer } = conn as unknown as { writer: { thread: Worker | null } };
  const t = writer.thread;
  if (!t) throw new Error("no writer thread");
  return t;
}

describe.each([
  ["on the writer thread", true],
  ["inline", false],
])("submissions written %s", (_name, threaded) => {
  it("uses the mode asked for", async () => {
    const { connection } = await open("10", { writerThread: threaded });
    expect(connection.writerThreaded).toBe(threaded);
  });

  it("accepts exactly what the balance covers, with the key's counters matching", async () => {
    const { store, principal, connection } = await open("66.6", { writerThread: threaded });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => store.submitTask(input(principal))),
    );
    const kinds = results.map((r) => r.kind);
    expect(kinds.filter((k) => k === "created")).toHaveLength(37);
    expect(kinds.filter((k) => k === "insufficient_balance")).toHaveLength(63);
    expect(scalar(connection, `SELECT COUNT(*) FROM tasks`)).toBe(37);
    // The 63 refusals took and gave back the key's hold: nothing of them is left.
    const key = connection
      .prepare(`SELECT held_micros, active_tasks FROM api_keys WHERE id = ?`)
      .get(principal.keyId) as { held_micros: number; active_tasks: number };
    expect(key).toEqual({ held_micros: 37 * PRICE, active_tasks: 37 });
  });

  it("fails only the submission that breaks, not the batch it was in", async () => {
    const { store, principal, connection } = await open("100", { writerThread: threaded });
    const dup = newTaskId();
    const settled = await Promise.allSettled([
      store.submitTask(input(principal)),
      store.submitTask(input(principal, dup)),
      store.submitTask(input(principal, dup)),
      store.submitTask(input(principal)),
    ]);
    expect(settled.map((s) => s.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    const err = (settled[2] as PromiseRejectedResult).reason as Error & { code?: string };
    expect(err.code).toMatch(/^SQLITE_CONSTRAINT/);
    expect(scalar(connection, `SELECT COUNT(*) FROM tasks`)).toBe(3);
    expect(scalar(connection, `SELECT COUNT(*) FROM ledger_entries WHERE kind = 'reserve'`)).toBe(
      3,
    );
  });
});

describe("the writer thread and the main connection", () => {
  it("main-thread writes wait for their turn instead of meeting a locked database", async () => {
    const { store, admin, principal, connection } = await open("100000");
    // With no busy wait at all, a write that met the thread's lock would throw SQLITE_BUSY.
    connection.prepare("PRAGMA busy_timeout = 0").run();
    const submissions: Array<Promise<SubmitResult>> = [];
    const topups: Array<Promise<unknown>> = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 200; i++) submissions.push(store.submitTask(input(principal)));
      // Let the batch go to the thread and get into its transaction, then write from
      // the main thread while it is out.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 2));
      topups.push(
        admin.moveCredits(principal.accountId, {
          kind: "topup",
          amountMicros: 1_000_000,
          reason: "test",
          nowMs: Date.now(),
        }),
      );
      topups.push(store.upsertGroups([{ name: "default", multiplierPpm: 1_000_000 }], Date.now()));
    }
    const results = await Promise.all(submissions);
    await Promise.all(topups);
    expect(results.every((r) => r.kind === "created")).toBe(true);
    expect(scalar(connection, `SELECT COUNT(*) FROM tasks`)).toBe(2000);
    expect(scalar(connection, `SELECT COUNT(*) FROM ledger_entries WHERE kind = 'topup'`)).toBe(11);
  });

  it("a submission is visible to the main connection once it is answered", async () => {
    const { store, principal } = await open("100");
    const i = input(principal);
    const r = await store.submitTask(i);
    expect(r.kind).toBe("created");
    expect((await store.getTask(principal.accountId, i.taskId))?.status).toBe("pending");
  });

  it("carries on inline when the thread dies while idle, and says so", async () => {
    const errors: Error[] = [];
    const { store, principal, connection } = await open("100", {
      onWriterThreadError: (e) => errors.push(e),
    });
    expect((await store.submitTask(input(principal))).kind).toBe("created");
    await threadOf(connection).terminate();
    expect(connection.writerThreaded).toBe(false);
    expect(errors).toHaveLength(1);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => store.submitTask(input(principal))),
    );
    expect(results.every((r) => r.kind === "created")).toBe(true);
    expect(scalar(connection, `SELECT COUNT(*) FROM tasks`)).toBe(11);
  });

  // Killed before, during or after its transaction: either way every submission gets
  // one true answer, and the ledger matches (afterEach checks it).
  it.each([0, 2, 5, 10])(
    "answers every submission exactly once when the thread dies with a batch out (%i ms)",
    async (delayMs) => {
      const { store, principal, connection } = await open("100000");
      const inputs = Array.from({ length: 300 }, () => input(principal));
      const pending = inputs.map((i) => store.submitTask(i));
      await new Promise((r) => setImmediate(r));
      const thread = threadOf(connection);
      await new Promise((r) => setTimeout(r, delayMs));
      await thread.terminate();
      const results = await Promise.all(pending);
      expect(results.every((r) => r.kind === "created")).toBe(true);
      expect(scalar(connection, `SELECT COUNT(*) FROM tasks`)).toBe(300);
      for (const i of inputs)
        expect((await store.getTask(principal.accountId, i.taskId))?.status).toBe("pending");
    },
  );

  it("answers a batch the thread committed but died before answering", async () => {
    const { store, principal, connection } = await open("100000");
    const inputs = Array.from({ length: 300 }, () => input(principal));
    const pending = inputs.map((i) => store.submitTask(i));
    await new Promise((r) => setImmediate(r));
    const thread = threadOf(connection);
    // Hold the event loop while the thread commits, so its answer is never read.
    const until = Date.now() + 300;
    while (Date.now() < until && scalar(connection, `SELECT COUNT(*) FROM tasks`) < 300);
    expect(scalar(connection, `SELECT COUNT(*) FROM tasks`)).toBe(300);
    thread.removeAllListeners("message");
    await thread.terminate();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.kind)).toEqual(inputs.map(() => "created"));
    expect(results.map((r) => (r.kind === "created" ? r.task.id : null))).toEqual(
      inputs.map((i) => i.taskId),
    );
  });
});

describe.each([
  ["on the writer thread", true],
  ["inline", false],
])("the runner's writes, group-committed %s", (_name, threaded) => {
  /** Every progress UPDATE actually made, recorded by a trigger in the file itself. */
  function recordProgressWrites(connection: SqliteConnection): () => number[] {
    connection.prepare(`CREATE TABLE progress_log (task_id TEXT, progress INTEGER)`).run();
    connection
      .prepare(
        `CREATE TRIGGER progress_logged AFTER UPDATE OF progress ON tasks
         WHEN NEW.progress IS NOT OLD.progress AND NEW.status = 'processing'
         BEGIN INSERT INTO progress_log VALUES (NEW.id, NEW.progress); END`,
      )
      .run();
    return () =>
      connection
        .prepare(`SELECT progress FROM progress_log ORDER BY rowid`)
        .pluck()
        .all() as number[];
  }

  it("claims, marks, heartbeats and finishes in shared commits, each answered truly", async () => {
    const { store, principal, connection } = await open("100", { writerThread: threaded });
    const ids = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const i = input(principal);
        expect((await store.submitTask(i)).kind).toBe("created");
        return i.taskId;
      }),
    );
    const now = Date.now();
    const claimed = await store.claimTasks("runner-a", 10, 30_000, now);
    expect(claimed.map((c) => c.task.id).sort()).toEqual([...ids].sort());
    // A second claim in the same moment finds nothing left.
    expect(await store.claimTasks("runner-b", 10, 30_000, now)).toEqual([]);
    const [a, b, c] = claimed;
    const marks = await Promise.all([
      store.markChannel(a!.task.id, a!.leaseToken, "ch-1", true, now),
      store.markChannel(b!.task.id, "not-the-token", "ch-1", true, now),
      store.heartbeat(
        "runner-a",
        claimed.map((x) => ({ taskId: x.task.id, leaseToken: x.leaseToken })),
        30_000,
        now,
      ),
    ]);
    expect(marks.slice(0, 2)).toEqual(["ok", "lease_lost"]);
    expect(marks[2]).toEqual({ lost: [], cancelRequested: [] });
    const finishes = await Promise.all([
      store.finishTask(
        a!.task.id,
        a!.leaseToken,
        { kind: "completed", images: [], chargeMicros: PRICE },
        now,
      ),
      store.finishTask(
        b!.task.id,
        b!.leaseToken,
        { kind: "failed", code: "service_error", message: "x" },
        now,
      ),
      store.finishTask(
        c!.task.id,
        "stale",
        { kind: "completed", images: [], chargeMicros: PRICE },
        now,
      ),
      store.cancelTask(principal.accountId, claimed[3]!.task.id, now),
    ]);
    expect(finishes).toEqual([true, true, false, "requested"]);
    const view = await store.getTask(principal.accountId, a!.task.id);
    expect(view).toMatchObject({ status: "completed", progress: 100, creditsUsedMicros: PRICE });
    expect((await store.getTask(principal.accountId, b!.task.id))?.status).toBe("failed");
    expect(connection.writerThreaded).toBe(threaded);
  });

  it("makes no progress write that a newer write in the queue says better", async () => {
    const { store, principal, connection } = await open("100", { writerThread: threaded });
    const progressWrites = recordProgressWrites(connection);
    const i = input(principal);
    await store.submitTask(i);
    const [c] = await store.claimTasks("runner-a", 1, 30_000, Date.now());
    const { leaseToken } = c!;
    // Steps queued in the same moment: only the newest is written.
    const steps = await Promise.all([
      store.reportProgress(i.taskId, leaseToken, 10, Date.now()),
      store.reportProgress(i.taskId, leaseToken, 20, Date.now()),
      store.reportProgress(i.taskId, leaseToken, 30, Date.now()),
    ]);
    expect(steps).toEqual([true, true, true]);
    expect(progressWrites()).toEqual([30]);
    // A step followed at once by the finish: the finish says it all.
    const done = await Promise.all([
      store.reportProgress(i.taskId, leaseToken, 99, Date.now()),
      store.finishTask(
        i.taskId,
        leaseToken,
        { kind: "completed", images: [], chargeMicros: PRICE },
        Date.now(),
      ),
    ]);
    expect(done).toEqual([true, true]);
    expect(progressWrites()).toEqual([30]);
    expect((await store.getTask(principal.accountId, i.taskId))?.progress).toBe(100);
  });
});

describe("the runner's writes when the writer thread dies", () => {
  it("fail with an error instead of a guess, and the next ones are written inline", async () => {
    const { store, principal, connection } = await open("100");
    for (let k = 0; k < 3; k++) await store.submitTask(input(principal));
    const claim = store.claimTasks("runner-a", 10, 30_000, Date.now());
    await new Promise((r) => setImmediate(r));
    await threadOf(connection).terminate();
    // The claim may or may not have committed: the runner is told so, not given a guess.
    await expect(claim).rejects.toThrow(/may or may not have been made/);
    expect(connection.writerThreaded).toBe(false);
    // Whatever it claimed is fenced by tokens nobody holds: it lapses and is claimed again.
    const later = Date.now() + 60_000;
    const again = await store.claimTasks("runner-b", 10, 30_000, later);
    expect(again).toHaveLength(3);
  });
});

describe("checkpoints", () => {
  it("are made by the writer thread after its answers, not inside a commit", async () => {
    const { store, principal, connection } = await open("100000");
    // No commit on this connection may checkpoint while the thread runs.
    expect(scalar(connection, "PRAGMA wal_autocheckpoint")).toBe(0);
    const before = statSync(connection.file).size;
    await Promise.all(Array.from({ length: 1500 }, () => store.submitTask(input(principal))));
    // Writes stop: the thread copies the WAL into the database file soon after.
    const deadline = Date.now() + 5_000;
    while (statSync(connection.file).size <= before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(statSync(connection.file).size).toBeGreaterThan(before);
  });

  it("fall back to SQLite's own when the thread dies", async () => {
    const { connection } = await open("100");
    await threadOf(connection).terminate();
    expect(connection.writerThreaded).toBe(false);
    expect(scalar(connection, "PRAGMA wal_autocheckpoint")).toBe(1000);
  });
});
