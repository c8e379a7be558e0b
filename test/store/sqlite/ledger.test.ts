/**
 * The ledger's defences that only show when the database is changed behind the
 * store's back: the schema refuses a second settlement row for a task, and the ledger
 * check (store and admin API) notices a balance that no longer matches the ledger.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openSqlite } from "../../../src/store/sqlite/open.js";
import type { TaskOutcome } from "../../../src/store/store.js";
import { defaultAccountId, startTestServer, TEST_ADMIN_TOKEN } from "../../helpers/server.js";
import { submitInput } from "../../helpers/store.js";
import { openSqliteTestStore, type SqliteTestStore } from "./helpers.js";

const opened: SqliteTestStore[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

describe("the ledger in the SQLite schema", () => {
  it("refuses a second capture for a settled task (unique task_id, kind)", async () => {
    const t = await openSqliteTestStore("1000");
    opened.push(t);
    const input = submitInput(t.principal);
    await t.store.submitTask(input);
    const [c] = await t.store.claimTasks("r", 1, 5000, Date.now());
    const done: TaskOutcome = { kind: "completed", images: [], chargeMicros: 1_800_000 };
    expect(await t.store.finishTask(input.taskId, c!.leaseToken, done, Date.now())).toBe(true);
    const again = t.connection.prepare(
      `INSERT INTO ledger_entries (account_id, task_id, kind, amount_micros, balance_after_micros, held_after_micros, created_ms)
       SELECT account_id, id, 'capture', 1, 0, 0, 0 FROM tasks WHERE id = ?`,
    );
    await expect(t.connection.write(() => again.run(input.taskId))).rejects.toThrow(/UNIQUE/);
    expect(await t.admin.checkLedger()).toEqual([]);
  });

  it("checkLedger names the account whose balance moved without a ledger entry", async () => {
    const t = await openSqliteTestStore("1000");
    opened.push(t);
    expect(await t.admin.checkLedger()).toEqual([]);
    const nudge = t.connection.prepare(
      `UPDATE accounts SET balance_micros = balance_micros + 1 WHERE id = ?`,
    );
    await t.connection.write(() => nudge.run(t.principal.accountId));
    const problems = await t.admin.checkLedger();
    expect(problems.map((p) => p.accountId)).toEqual([t.principal.accountId]);
    expect(problems[0]!.problem).toMatch(/balance/);
  });
});

describe("GET /admin/v1/ledger/check", () => {
  it("reports a balance corrupted by another process, and consistency once repaired", async () => {
    const s = await startTestServer({ DARKROOM_RUNNER: "false" });
    const other = openSqlite(s.dr.config.sqlitePath);
    try {
      const check = async () =>
        (await s.api("/admin/v1/ledger/check", { key: TEST_ADMIN_TOKEN })).json;
      expect(await check()).toEqual({ consistent: true, problems: [] });
      const accountId = await defaultAccountId(s);
      const move = other.prepare(
        `UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?`,
      );
      move.run(1, accountId);
      const bad = await check();
      expect(bad.consistent).toBe(false);
      expect(bad.problems[0].accountId).toBe(accountId);
      move.run(-1, accountId);
      expect(await check()).toEqual({ consistent: true, problems: [] });
    } finally {
      other.close();
      await s.stop();
    }
  });
});
