/**
 * Every statement a write batch runs (claims, marks, finishes, expiry, outbox, rates…)
 * walks an index to the rows it needs: none scans the tasks or sorts them. SQLite has
 * no statistics here, so an index added for another reader can silently win the plan
 * (the console's tasks_status_model_list once turned each claim into a sort of the
 * whole queue); this reads the plans of the statements as the writer prepares them.
 */
import type { Database } from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import { openSqlite } from "../../../src/store/sqlite/open.js";
import { WriteBatch } from "../../../src/store/sqlite/write-batch.js";
import { openSqliteTestStore, type SqliteTestStore } from "./helpers.js";

let t: SqliteTestStore | null = null;
let db: Database | null = null;
afterEach(async () => {
  db?.close();
  db = null;
  await t?.close();
  t = null;
});

/** `db` with every statement it prepares recorded in `seen`. */
function recording(database: Database, seen: Set<string>): Database {
  const prepare = database.prepare.bind(database);
  database.prepare = ((sql: string) => {
    seen.add(sql);
    return prepare(sql);
  }) as Database["prepare"];
  return database;
}

/** The plan of `sql`, its parameters bound to NULL (a plan does not depend on them). */
function planOf(database: Database, sql: string): string[] {
  const named = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((m) => [m[1], null]));
  const positional = Array<null>(sql.split("?").length - 1).fill(null);
  const st = database.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const rows = Object.keys(named).length > 0 ? st.all(named) : st.all(...positional);
  return (rows as Array<{ detail: string }>).map((r) => r.detail);
}

it("runs no statement that scans or sorts the tasks", async () => {
  t = await openSqliteTestStore();
  const seen = new Set<string>();
  db = recording(openSqlite(t.sqlitePath), seen);
  const batch = new WriteBatch(db);
  // The claim's picks are prepared on first use, one per shape: with and without
  // models left out (a model whose channels are full).
  const outcomes = batch.run([
    { kind: "claim", owner: "plans", limit: 4, leaseMs: 1000, nowMs: 1, budgets: null },
    {
      kind: "claim",
      owner: "plans",
      limit: 4,
      leaseMs: 1000,
      nowMs: 1,
      budgets: [
        ["doubao-seedream-4.0", 0],
        ["gpt-image-1", 2],
      ],
    },
    {
      kind: "expire",
      cutoffMs: 1,
      limit: 10,
      failure: { code: "service_unavailable", message: "plans" },
      nowMs: 1,
    },
  ]);
  expect(outcomes.every((o) => o.ok)).toBe(true);

  const onTasks = [...seen].filter((sql) => /\btasks\b/.test(sql));
  expect(onTasks.length).toBeGreaterThan(10);
  const bad = onTasks
    .map((sql) => ({ sql: sql.replace(/\s+/g, " "), plan: planOf(db!, sql) }))
    .filter(({ plan }) =>
      plan.some((line) => /^SCAN tasks\b/.test(line) || /TEMP B-TREE/.test(line)),
    );
  expect(bad).toEqual([]);

  // The queue's picks walk its partial indexes, in order.
  const picks = onTasks.filter((sql) => /ORDER BY (run_after_ms|lease_expires_ms)/.test(sql));
  expect(picks.length).toBeGreaterThanOrEqual(3);
  for (const sql of picks)
    expect(planOf(db, sql).join(" ")).toMatch(/USING INDEX tasks_(pending|leases) /);
});
