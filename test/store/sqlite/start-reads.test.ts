/**
 * What a process reads when it starts is bounded, never a scan of the task history
 * (issue 13: a start took 3.9 s with a million tasks against 1.4 s empty).
 */
import { afterEach, describe, expect, it } from "vitest";
import { RECENT_DURATIONS_SQL } from "../../../src/store/sqlite/sqlite-store.js";
import { openSqliteTestStore, type SqliteTestStore } from "./helpers.js";

const opened: SqliteTestStore[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

describe("reads at start", () => {
  it("seeds duration estimates from the tasks_finished index, model by model, without a scan", async () => {
    const t = await openSqliteTestStore("1000");
    opened.push(t);
    const plan = t.connection
      .prepare(`EXPLAIN QUERY PLAN ${RECENT_DURATIONS_SQL}`)
      .all("doubao-seedream-4.0", 50) as Array<{ detail: string }>;
    const details = plan.map((p) => p.detail).join(" | ");
    expect(details).toMatch(/SEARCH tasks USING INDEX tasks_finished \(model=\?\)/);
    expect(details).not.toMatch(/SCAN|TEMP B-TREE/);
  });
});
