/**
 * model_queue (migration 008_queue, issue 14): each model's pending tasks, counted from the
 * tasks already there when an older database is migrated, then kept by triggers for
 * every write, whoever makes it; and the queue's limit on the careful way through a
 * submission batch (each submission in its own savepoint).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { Kysely, Migrator, sql, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { newTaskId } from "../../../src/core/ids.js";
import { initial } from "../../../src/store/migrations/001_initial.js";
import { webhooks } from "../../../src/store/migrations/002_webhooks.js";
import { channels } from "../../../src/store/migrations/003_channels.js";
import { listing } from "../../../src/store/migrations/004_listing.js";
import { retention } from "../../../src/store/migrations/005_retention.js";
import { cluster } from "../../../src/store/migrations/006_cluster.js";
import { rates } from "../../../src/store/migrations/007_rates.js";
import { openSqliteStores, type SqliteStores } from "../../../src/store/sqlite/backend.js";
import { submitInput } from "../../helpers/store.js";
import { openSqliteTestStore, scalar, type SqliteTestStore } from "./helpers.js";

const dirs: string[] = [];
const stores: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A file as Darkroom left it before the queue: every migration before 008. */
async function databaseBeforeQueue(file: string): Promise<void> {
  const db = new Database(file);
  const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: db }) });
  const steps = {
    "001_initial": initial,
    "002_webhooks": webhooks,
    "003_channels": channels,
    "004_listing": listing,
    "005_retention": retention,
    "006_cluster": cluster,
    "007_rates": rates,
  };
  const { error } = await new Migrator({
    db: kysely,
    provider: {
      getMigrations: async () =>
        Object.fromEntries(
          Object.entries(steps).map(([name, statements]) => [
            name,
            {
              up: async (k: Kysely<unknown>) => {
                for (const s of statements) await sql.raw(s).execute(k);
              },
            },
          ]),
        ),
    },
  }).migrateToLatest();
  if (error) throw error;
  await kysely.destroy(); // closes db
}

function seed(db: Database.Database, rows: Array<[id: string, model: string, status: string]>) {
  db.exec(`INSERT OR IGNORE INTO groups VALUES ('default', 1000000, 0);
    INSERT OR IGNORE INTO accounts (id, name, group_name, webhook_secret, created_ms) VALUES ('a1', 'a1', 'default', 'w', 0);
    INSERT OR IGNORE INTO api_keys (id, account_id, key_hash, prefix, created_ms) VALUES ('k', 'a1', 'h', 'p', 0);`);
  const ins = db.prepare(
    `INSERT INTO tasks (id, account_id, api_key_id, model, status, request, n, user_group, price_micros,
       multiplier_ppm, credits_reserved_micros, estimated_s, run_after_ms, created_s, created_ms, updated_ms)
     VALUES (?, 'a1', 'k', ?, ?, '{}', 1, 'default', 1, 1000000, 1, 45, 1, 1, 1, 1)`,
  );
  for (const [id, model, status] of rows) ins.run(id, model, status);
}

const countsOf = (s: SqliteStores) =>
  s.connection.prepare(`SELECT model, pending FROM model_queue WHERE pending > 0 ORDER BY 1`).all();
const truth = (s: SqliteStores) =>
  s.connection
    .prepare(
      `SELECT model, COUNT(*) AS pending FROM tasks WHERE status = 'pending' GROUP BY 1 ORDER BY 1`,
    )
    .all();

describe("model_queue", () => {
  it("counts the pending tasks an older database holds when 008 migrates it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "darkroom-queue-"));
    dirs.push(dir);
    const file = path.join(dir, "darkroom.sqlite");
    await databaseBeforeQueue(file);
    const db = new Database(file);
    const statuses = ["pending", "processing", "completed", "failed"];
    seed(
      db,
      Array.from({ length: 30 }, (_, i) => [
        `task-unified-1-${String(i).padStart(8, "0")}`,
        i % 3 === 0 ? "m-b" : "m-a",
        statuses[i % 4]!,
      ]),
    );
    db.close();
    const s = await openSqliteStores(file, { writerThread: false });
    stores.push(s);
    expect(countsOf(s)).toEqual(truth(s));
    expect(await s.store.queuedTasks("m-a")).toBe(
      scalar(s.connection, `SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND model = 'm-a'`),
    );
  });

  it("follows every insert, status change, move and delete, and ignores other updates", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "darkroom-queue-"));
    dirs.push(dir);
    const s = await openSqliteStores(path.join(dir, "darkroom.sqlite"), { writerThread: false });
    stores.push(s);
    const db = new Database(path.join(dir, "darkroom.sqlite"));
    try {
      seed(db, [
        ["t1", "m-a", "pending"],
        ["t2", "m-a", "pending"],
        ["t3", "m-b", "pending"],
        ["t4", "m-b", "completed"],
      ]);
      expect(countsOf(s)).toEqual([
        { model: "m-a", pending: 2 },
        { model: "m-b", pending: 1 },
      ]);
      db.exec(`UPDATE tasks SET status = 'processing' WHERE id = 't1'`);
      db.exec(`UPDATE tasks SET progress = 5, updated_ms = 9 WHERE id = 't2'`);
      expect(countsOf(s)).toEqual(truth(s));
      db.exec(`UPDATE tasks SET status = 'pending' WHERE id = 't1'`);
      db.exec(`UPDATE tasks SET model = 'm-b' WHERE id = 't2'`);
      db.exec(`UPDATE tasks SET model = 'm-c' WHERE id = 't4'`); // not pending: no change
      expect(countsOf(s)).toEqual(truth(s));
      db.exec(`UPDATE tasks SET status = 'failed' WHERE id IN ('t1', 't3')`);
      db.exec(`DELETE FROM tasks WHERE id = 't2'`);
      expect(countsOf(s)).toEqual(truth(s));
      expect(await s.store.queuedTasks("m-b")).toBe(0);
    } finally {
      db.close();
    }
  });

  it("refuses past the limit on the careful way through a batch, giving the holds back", async () => {
    const t: SqliteTestStore = await openSqliteTestStore("100");
    stores.push(t);
    const PRICE = 1_800_000;
    const queue = { maxQueued: 3, slots: 0, roundSeconds: 0 };
    const input = (taskId = newTaskId()) => ({
      ...submitInput(t.principal, { priceMicros: PRICE, taskId }),
      queue,
    });
    const dup = newTaskId();
    const refused = input();
    // The duplicate id aborts the batch's usual way: each submission is decided again alone.
    const settled = await Promise.allSettled([
      t.store.submitTask(input()),
      t.store.submitTask(input(dup)),
      t.store.submitTask(input(dup)),
      t.store.submitTask(input()),
      t.store.submitTask(refused),
    ]);
    expect(settled.map((r) => (r.status === "fulfilled" ? r.value.kind : "rejected"))).toEqual([
      "created",
      "created",
      "rejected",
      "created",
      "queue_full",
    ]);
    expect(await t.admin.findTask(refused.taskId)).toBeNull();
    expect(await t.store.queuedTasks("doubao-seedream-4.0")).toBe(3);
    expect(
      t.connection
        .prepare(`SELECT held_micros, active_tasks FROM api_keys WHERE id = ?`)
        .get(t.principal.keyId),
    ).toEqual({ held_micros: 3 * PRICE, active_tasks: 3 });
    expect((await t.store.getBalance(t.principal.accountId))!.heldMicros).toBe(3 * PRICE);
    expect(await t.admin.checkLedger()).toEqual([]);
  });
});
