/**
 * task_counts (migration 004): counted from the tasks already there when a database
 * written by an older Darkroom is migrated, then kept by triggers for every write,
 * whoever makes it (here: plain SQL, as another process or a future path would).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { Kysely, Migrator, sql, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { initial } from "../../../src/store/migrations/001_initial.js";
import { webhooks } from "../../../src/store/migrations/002_webhooks.js";
import { channels } from "../../../src/store/migrations/003_channels.js";
import { openSqliteStores, type SqliteStores } from "../../../src/store/sqlite/backend.js";
import { scalar } from "./helpers.js";

const dirs: string[] = [];
const stores: SqliteStores[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A file as Darkroom left it before 004: migrations 001–003 only. */
async function databaseBefore004(file: string): Promise<void> {
  const db = new Database(file);
  const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: db }) });
  const steps = { "001_initial": initial, "002_webhooks": webhooks, "003_channels": channels };
  const migrator = new Migrator({
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
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
  await kysely.destroy(); // closes db
}

const TASK_COLUMNS = `id, account_id, api_key_id, model, status, request, n, user_group, price_micros,
  multiplier_ppm, credits_reserved_micros, estimated_s, run_after_ms, created_s, created_ms, updated_ms`;

function insertTasks(db: Database.Database, rows: Array<[string, string, string, string]>): void {
  const ins = db.prepare(
    `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (?, ?, 'k', ?, ?, '{}', 1, 'default', 1, 1000000, 1, 45, 1, 1, ?, 1)`,
  );
  for (const [i, [id, account, model, status]] of rows.entries())
    ins.run(id, account, model, status, i);
}

function seedAccounts(db: Database.Database): void {
  db.exec(`INSERT INTO groups VALUES ('default', 1000000, 0);
    INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms) VALUES ('a1', 'a1', 'default', 'w', 0), ('a2', 'a2', 'default', 'w', 0);
    INSERT INTO api_keys (id, account_id, key_hash, prefix, created_ms) VALUES ('k', 'a1', 'h', 'p', 0);`);
}

const countsOf = (s: SqliteStores) =>
  s.connection
    .prepare(`SELECT account_id, model, status, n FROM task_counts WHERE n > 0 ORDER BY 1, 2, 3`)
    .all();
const truth = (s: SqliteStores) =>
  s.connection
    .prepare(
      `SELECT account_id, model, status, COUNT(*) AS n FROM tasks GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    )
    .all();

describe("task_counts", () => {
  it("counts the tasks an older database holds when 004 migrates it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "darkroom-counts-"));
    dirs.push(dir);
    const file = path.join(dir, "darkroom.sqlite");
    await databaseBefore004(file);
    const db = new Database(file);
    seedAccounts(db);
    const statuses = ["pending", "processing", "completed", "failed"];
    insertTasks(
      db,
      Array.from({ length: 40 }, (_, i) => [
        `task-unified-1-${String(i).padStart(8, "0")}`,
        i % 5 === 0 ? "a2" : "a1",
        i % 3 === 0 ? "m-b" : "m-a",
        statuses[i % 4]!,
      ]),
    );
    db.close();

    const s = await openSqliteStores(file, { writerThread: false });
    stores.push(s);
    expect(countsOf(s)).toEqual(truth(s));
    expect(scalar(s.connection, `SELECT SUM(n) FROM task_counts`)).toBe(40);
    const page = await s.store.listTasks("a1", {
      status: "failed",
      model: "m-a",
      pageSize: 100,
      start: { page: 1 },
    });
    expect(page.total).toBe(page.data.length);
    expect(page.total).toBe(
      scalar(
        s.connection,
        `SELECT COUNT(*) FROM tasks WHERE account_id = 'a1' AND status = 'failed' AND model = 'm-a'`,
      ),
    );
  });

  it("follows every insert, status change, move and delete, and ignores other updates", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "darkroom-counts-"));
    dirs.push(dir);
    const s = await openSqliteStores(path.join(dir, "darkroom.sqlite"), { writerThread: false });
    stores.push(s);
    const db = new Database(path.join(dir, "darkroom.sqlite"));
    try {
      seedAccounts(db);
      insertTasks(db, [
        ["t1", "a1", "m-a", "pending"],
        ["t2", "a1", "m-a", "pending"],
        ["t3", "a2", "m-b", "pending"],
      ]);
      expect(countsOf(s)).toEqual(truth(s));
      db.exec(`UPDATE tasks SET status = 'processing' WHERE id = 't1'`);
      db.exec(`UPDATE tasks SET status = 'processing', progress = 5 WHERE id = 't1'`); // same status
      db.exec(`UPDATE tasks SET progress = 50, updated_ms = 9 WHERE id = 't2'`);
      expect(countsOf(s)).toEqual(truth(s));
      db.exec(`UPDATE tasks SET model = 'm-b', account_id = 'a2' WHERE id = 't2'`);
      db.exec(`UPDATE tasks SET status = 'completed' WHERE id IN ('t1', 't3')`);
      expect(countsOf(s)).toEqual(truth(s));
      db.exec(`DELETE FROM tasks WHERE id = 't3'`);
      expect(countsOf(s)).toEqual(truth(s));
      // A count never goes below zero: a write that would make one negative fails whole.
      db.exec(
        `UPDATE task_counts SET n = 0 WHERE account_id = 'a1' AND model = 'm-a' AND status = 'completed'`,
      );
      expect(() => db.exec(`DELETE FROM tasks WHERE id = 't1'`)).toThrow(/CHECK constraint failed/);
      expect(scalar(s.connection, `SELECT COUNT(*) FROM tasks WHERE id = 't1'`)).toBe(1);
    } finally {
      db.close();
    }
  });
});
