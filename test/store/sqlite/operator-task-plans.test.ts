/**
 * Issue 15: the operator's task reads stay O(page) and O(window) at any number of tasks
 * on SQLite. Every walk of the account-less listing reads the index its filter names
 * (no scan of the table, no sort), the trail is a range of task_attempts' primary key,
 * the stats read task_minutes' primary key and the tasks_finished index; and retention
 * takes a purged task's trail with it.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TaskStatus } from "../../../src/core/types.js";
import {
  DURATION_SAMPLE_SQL,
  MINUTES_SQL,
  OPERATOR_TASK_LISTING,
  operatorTaskWalks,
  TRAIL_SQL,
  type OperatorTaskFilter,
} from "../../../src/store/operator-tasks.js";
import { Keyset, sqliteOffIndex, type Group } from "../../../src/store/sqlite/keyset.js";
import { submitInput } from "../../helpers/store.js";
import { openSqliteTestStore, scalar, type SqliteTestStore } from "./helpers.js";

const opened: SqliteTestStore[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

const MODELS = ["doubao-seedream-4.0", "doubao-seedream-4.5"];
const STATUSES: TaskStatus[] = ["pending", "processing", "completed", "failed"];

function plan(t: SqliteTestStore, sql: string, params: unknown[]): string {
  const rows = t.connection.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{
    detail: string;
  }>;
  return rows.map((r) => r.detail).join(" | ");
}

const params = (groups: Group[], after: boolean) =>
  groups.flatMap((g) => [...g.map(([, v]) => v), ...(after ? [1, "task-unified-1-a"] : [])]);

describe("operator task plans on SQLite", () => {
  it("walks the index each filter names, in order, first page and after a cursor", async () => {
    const t = await openSqliteTestStore();
    opened.push(t);
    const keyset = new Keyset(t.connection, OPERATOR_TASK_LISTING);
    const cases: Array<[OperatorTaskFilter, string]> = [];
    const f = (status: TaskStatus | null, model: string | null, channelId: string | null) => ({
      status,
      model,
      accountId: null,
      channelId,
    });
    cases.push([f(null, null, null), "tasks_created_list"]);
    for (const s of STATUSES) cases.push([f(s, null, null), "tasks_status_model_list"]);
    cases.push([f(null, MODELS[0]!, null), "tasks_status_model_list"]);
    cases.push([f("failed", MODELS[1]!, null), "tasks_status_model_list"]);
    cases.push([f(null, null, "ch-a"), "tasks_channel_list"]);
    cases.push([f("failed", MODELS[0]!, "ch-a"), "tasks_channel_list"]);
    for (const [filter, index] of cases) {
      const groups = operatorTaskWalks(filter, MODELS, sqliteOffIndex);
      for (const after of [false, true]) {
        const text = plan(t, keyset.readSql(groups, after), [...params(groups, after), 51]);
        const label = `${JSON.stringify(filter)} after=${after}: ${text}`;
        const walks = text.split(" | ").filter((d) => /^(SEARCH|SCAN)/.test(d));
        expect(walks, label).toHaveLength(groups.length);
        for (const w of walks) expect(w, label).toContain(`USING INDEX ${index}`);
        expect(text, label).not.toContain("TEMP B-TREE");
      }
    }
  });

  it("reads a trail and the stats by their keys", async () => {
    const t = await openSqliteTestStore();
    opened.push(t);
    expect(plan(t, TRAIL_SQL, ["task-unified-1-a"])).toMatch(
      /SEARCH task_attempts USING PRIMARY KEY/,
    );
    expect(plan(t, MINUTES_SQL, [0, 60])).toMatch(/SEARCH task_minutes USING PRIMARY KEY/);
    const sample = plan(t, DURATION_SAMPLE_SQL, [MODELS[0], 0, 100]);
    expect(sample).toMatch(/SEARCH tasks USING INDEX tasks_finished/);
    expect(sample).not.toContain("TEMP B-TREE");
  });

  it("purges a task's trail with the task", async () => {
    const t = await openSqliteTestStore();
    opened.push(t);
    const principal = t.principal;
    const input = submitInput(principal, { nowMs: 1_000 });
    expect((await t.store.submitTask(input)).kind).toBe("created");
    const [c] = await t.store.claimTasks("r", 1, 30_000, 2_000);
    const trail = [
      { kind: "claimed" as const, atMs: 2_000 },
      { kind: "upstream_attempt" as const, atMs: 2_001, endedMs: 2_002, channelId: "ch-a" },
    ];
    const failed = { kind: "failed" as const, code: "service_error" as const, message: "x" };
    expect(await t.store.finishTask(input.taskId, c!.leaseToken, failed, 3_000, trail)).toBe(true);
    const count = `SELECT COUNT(*) FROM task_attempts WHERE task_id = ?`;
    expect(scalar(t.connection, count, input.taskId)).toBe(2);
    expect(await t.store.purgeTasks(Date.now() + 86_400_000, 10)).toBe(1);
    expect(scalar(t.connection, count, input.taskId)).toBe(0);
  });
});
