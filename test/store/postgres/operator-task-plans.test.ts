/**
 * Issue 15 on PostgreSQL: with enough tasks that the planner weighs its choices, every
 * read of the operator's task listing — first page and after a cursor, for every kind
 * of filter — walks the index its filter names (a Merge Append of bounded walks where
 * it merges several), never a sequential scan or a sort of the matching rows; the
 * stats read task_minutes' primary key and the tasks_finished index. docs/postgres.md
 * shows these plans (SHOW_PLANS=1 prints them).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Group } from "../../../src/store/keyset-plan.js";
import {
  DURATION_SAMPLE_SQL,
  MINUTES_SQL,
  OPERATOR_TASK_LISTING,
  operatorTaskWalks,
  type OperatorTaskFilter,
} from "../../../src/store/operator-tasks.js";
import type { PgDatabase } from "../../../src/store/postgres/database.js";
import { numbered, PgKeyset } from "../../../src/store/postgres/keyset.js";
import { migratedSchema, postgresAnswers } from "../../helpers/postgres.js";

const up = await postgresAnswers();
const T0 = 1_800_000_000_000;
const MODELS = ["m-a", "m-b", "m-c"];
const asIs = (c: string) => c;

describe.skipIf(!up)("operator task plans on PostgreSQL", () => {
  let db: PgDatabase;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, drop } = await migratedSchema());
    await db.query(`INSERT INTO groups VALUES ('default', 1000000, 0)`);
    await db.query(
      `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms)
       SELECT 'acct_' || i, 'n' || i, 'default', 'w', 0 FROM generate_series(1, 50) AS i`,
    );
    await db.query(
      `INSERT INTO api_keys (id, account_id, key_hash, prefix, created_ms)
       SELECT 'key_' || i, 'acct_' || i, 'h' || i, 'p', 0 FROM generate_series(1, 50) AS i`,
    );
    // 100,000 tasks: three models, mostly finished, spread over two channels.
    await db.query(
      `INSERT INTO tasks (id, account_id, api_key_id, model, status, request, n, user_group,
         price_micros, multiplier_ppm, credits_reserved_micros, credits_used_micros, estimated_s,
         run_after_ms, created_s, created_ms, updated_ms, finished_ms, channel_id)
       SELECT 'task-unified-' || i, 'acct_' || (i % 50 + 1), 'key_' || (i % 50 + 1),
         (ARRAY['m-a', 'm-b', 'm-c'])[i % 3 + 1], s.status, '{"prompt":"x"}', 1, 'default',
         1, 1000000, 1, 1, 10, $1::bigint + i * 10, ($1::bigint + i * 10) / 1000,
         $1::bigint + i * 10, $1::bigint + i * 10,
         CASE WHEN s.status IN ('completed', 'failed') THEN $1::bigint + i * 10 + 5000 END,
         CASE WHEN s.status <> 'pending' THEN (ARRAY['ch-a', 'ch-b'])[i % 2 + 1] END
       FROM generate_series(1, 100000) AS i
       CROSS JOIN LATERAL (SELECT CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 100 = 1 THEN 'processing'
         WHEN i % 10 = 2 THEN 'failed' ELSE 'completed' END AS status) AS s`,
      [T0],
    );
    await db.query(`ANALYZE`);
  }, 180_000);

  afterAll(async () => {
    await drop?.();
  });

  async function explain(sql: string, params: unknown[]): Promise<string[]> {
    const rows = await db.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params);
    return rows.map((r) => r["QUERY PLAN"]);
  }

  const f = (
    status: OperatorTaskFilter["status"],
    model: string | null,
    channelId: string | null,
  ): OperatorTaskFilter => ({ status, model, accountId: null, channelId });

  const cases: Array<[string, OperatorTaskFilter, RegExp]> = [
    ["no filter", f(null, null, null), /tasks_created_list/],
    ["status and model", f("failed", "m-b", null), /tasks_status_model_list/],
    ["status", f("pending", null, null), /tasks_status_model_list/],
    ["model", f(null, "m-a", null), /tasks_status_model_list/],
    // A channel holding half the tasks: PostgreSQL may as well walk every task newest
    // first and check the channel (each row it reads matches every other time).
    ["channel", f(null, null, "ch-a"), /tasks_channel_list|tasks_created_list/],
    [
      "channel, status and model",
      f("failed", "m-a", "ch-b"),
      /tasks_channel_list|tasks_status_model_list/,
    ],
  ];

  it.each(cases)("%s: index walks, no sequential scan, no sort", async (name, filter, index) => {
    const keyset = new PgKeyset(OPERATOR_TASK_LISTING);
    const groups: Group[] = operatorTaskWalks(filter, MODELS, asIs);
    for (const after of [null, [T0 + 500_000, "task-unified-50000"]]) {
      const plan = await explain(
        keyset.readSql(groups, after !== null),
        keyset.readParams(groups, after, 51),
      );
      const text = plan.join("\n");
      if (process.env.SHOW_PLANS) console.log(`${name} after=${after !== null}\n${text}`);
      expect(text).toMatch(index);
      expect(text).not.toContain("Seq Scan");
      // No Sort node (a Merge Append's "Sort Key" line only names its order).
      expect(text).not.toMatch(/(^|->\s+)Sort\b/m);
      if (groups.length > 1) expect(text).toContain("Merge Append");
    }
  });

  it("reads the stats by their keys", async () => {
    const minutes = (await explain(numbered(MINUTES_SQL), [T0 / 1000, T0 / 1000 + 3600])).join(
      "\n",
    );
    expect(minutes).toMatch(/task_minutes_pkey/);
    const sample = (await explain(numbered(DURATION_SAMPLE_SQL), ["m-a", T0, 100])).join("\n");
    expect(sample).toMatch(/tasks_finished/);
    expect(sample).not.toContain("Seq Scan");
  });
});
