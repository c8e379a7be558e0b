/**
 * The queue a metrics scrape reads (Store.activeTaskCounts) on SQLite: past
 * COUNTS_ON_THREAD_ABOVE_ACCOUNTS accounts it is read on a thread of its own, and says
 * the same as the read on the event loop.
 */
import { afterEach, expect, it } from "vitest";
import {
  ACTIVE_TASK_COUNTS_SQL,
  COUNTS_ON_THREAD_ABOVE_ACCOUNTS,
} from "../../../src/store/sqlite/sqlite-store.js";
import { submitInput } from "../../helpers/store.js";
import { openSqliteTestStore, scalar, type SqliteTestStore } from "./helpers.js";

let t: SqliteTestStore | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

it("reads the queue on a thread once there are many accounts, with the same answer", async () => {
  t = await openSqliteTestStore();
  const store = t;
  for (const model of ["doubao-seedream-4.0", "doubao-seedream-4.0", "gpt-image-1"])
    expect(
      (await store.store.submitTask(submitInput(store.principal, { body: { model } }))).kind,
    ).toBe("created");
  const expected = [
    { model: "doubao-seedream-4.0", status: "pending", count: 2 },
    { model: "gpt-image-1", status: "pending", count: 1 },
  ];
  const sorted = async () =>
    (await store.store.activeTaskCounts()).sort((a, b) => a.model.localeCompare(b.model));
  expect(await sorted()).toEqual(expected);

  // Many accounts, each with empty counts rows (what a long-lived gateway accumulates).
  const insert = store.connection.prepare(
    `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms) VALUES (?, ?, 'default', 'whsec_x', 0)`,
  );
  const counts = store.connection.prepare(
    `INSERT INTO task_counts (account_id, model, status, n) VALUES (?, 'doubao-seedream-4.0', 'pending', 0)`,
  );
  await store.connection.write(() =>
    store.connection.transaction(() => {
      for (let i = 0; i <= COUNTS_ON_THREAD_ABOVE_ACCOUNTS; i++) {
        insert.run(`acct_many_${i}`, `many-${i}`);
        counts.run(`acct_many_${i}`);
      }
    })(),
  );
  expect(scalar(store.connection, `SELECT MAX(rowid) FROM accounts`)).toBeGreaterThan(
    COUNTS_ON_THREAD_ABOVE_ACCOUNTS,
  );
  expect(await sorted()).toEqual(expected);
  // The statement walks task_counts, never the tasks.
  const plan = store.connection
    .prepare(`EXPLAIN QUERY PLAN ${ACTIVE_TASK_COUNTS_SQL}`)
    .all() as Array<{ detail: string }>;
  expect(plan.map((p) => p.detail).join(" ")).not.toContain("tasks ");
});
