#!/usr/bin/env node
// The plans of the PostgreSQL task store's hot statements on a table large enough that
// the planner chooses as it would in production (docs/postgres.md shows the output).
//
//   npm run build && node bench/postgres-plans.js            # 100k tasks
//   BENCH_TASKS=1000000 node bench/postgres-plans.js
//
// Works in a schema of its own (dropped at the end). The statements are the store's
// own (pg-store.ts, task-functions.ts, the keyset plan), run under EXPLAIN (ANALYZE).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openPostgresStores } from "../dist/store/postgres/backend.js";
import { PgKeyset } from "../dist/store/postgres/keyset.js";
import { matchingCounts, TASK_LISTING, taskGroups } from "../dist/store/keyset-plan.js";
import { TASK_VIEW_COLUMNS } from "../dist/store/rows.js";

const URL = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const TASKS = Number(process.env.BENCH_TASKS || 100_000);
const schema = `plans_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: URL });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
await admin.query(`SET search_path = ${schema}`);
const s = await openPostgresStores(URL, { schema, max: 2 });
const q = (sql, params = []) => s.db.query(sql, params);

try {
  const T0 = 1_800_000_000_000;
  await s.store.bootstrap({
    nowMs: T0,
    adminTokenHash: "h",
    accountName: "default",
    groupName: "default",
    groups: [{ name: "default", multiplierPpm: 1_000_000 }],
    apiKey: { id: "key_big", hash: "kh", prefix: "sk-big" },
    creditsMicros: 1e15,
    webhookSecret: "whsec",
  });
  await q(
    `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms)
     SELECT 'acct_' || i, 'a' || i, 'default', 'w', $1 FROM generate_series(1, 9999) AS i`,
    [T0],
  );
  await q(
    `INSERT INTO api_keys (id, account_id, key_hash, prefix, created_ms)
     SELECT 'key_' || i, 'acct_' || i, 'hash' || i, 'sk', $1 FROM generate_series(1, 9999) AS i`,
    [T0],
  );
  // Half the tasks on the big account, the rest spread over 9,999 others; three models;
  // mostly finished, 1 % pending, 0.2 % processing, as a busy gateway's history looks.
  await q(
    `INSERT INTO tasks (id, account_id, api_key_id, model, status, request, n, user_group,
       price_micros, multiplier_ppm, credits_reserved_micros, credits_used_micros, estimated_s,
       run_after_ms, lease_expires_ms, created_s, created_ms, updated_ms, finished_ms)
     SELECT 'task-' || lpad(i::text, 9, '0'),
       CASE WHEN i % 2 = 0 THEN 'acct_big' ELSE 'acct_' || (i % 9999 + 1) END,
       CASE WHEN i % 2 = 0 THEN 'key_big' ELSE 'key_' || (i % 9999 + 1) END,
       (ARRAY['doubao-seedream-4.0', 'doubao-seedream-4.5', 'doubao-seedream-5.0-lite'])[i % 3 + 1],
       CASE WHEN i > $1::integer * 0.99 THEN 'pending' WHEN i % 500 = 7 THEN 'processing'
            WHEN i % 10 = 3 THEN 'failed' ELSE 'completed' END,
       '{}', 1, 'default', 1800000, 1000000, 1800000, 1800000, 45,
       $2::bigint + i * 10, CASE WHEN i % 500 = 7 THEN $2::bigint + i * 10 + 60000 END,
       ($2::bigint + i * 10) / 1000, $2::bigint + i * 10, $2::bigint + i * 10, $2::bigint + i * 10 + 30000
     FROM generate_series(1, $1::integer) AS i`,
    [TASKS, T0],
  );
  await q(`VACUUM (ANALYZE) tasks`);
  await q(`VACUUM (ANALYZE) task_counts`);
  await q(`VACUUM (ANALYZE) api_keys`);
  await q(`VACUUM (ANALYZE) accounts`);

  const now = T0 + TASKS * 10;
  const mid = await q(
    `SELECT created_ms, id FROM tasks WHERE account_id = 'acct_big' ORDER BY created_ms DESC, id DESC OFFSET $1 LIMIT 1`,
    [Math.floor(TASKS * 0.45)],
  );
  const keyset = new PgKeyset(TASK_LISTING);
  const all = taskGroups("acct_big", [{ model: "", status: "", n: 1 }], {
    status: null,
    model: null,
  });
  const completed = taskGroups(
    "acct_big",
    ["doubao-seedream-4.0", "doubao-seedream-4.5", "doubao-seedream-5.0-lite"].map((model) => ({
      model,
      status: "completed",
      n: 1,
    })),
    { status: "completed", model: null },
  );
  const after = [Number(mid[0].created_ms), mid[0].id];
  // A small account (about TASKS / 20,000 tasks): its walks must not read the big one's.
  const small = "acct_17";
  const smallCounts = await q(
    `SELECT model, status, n FROM task_counts WHERE account_id = $1 AND n > 0`,
    [small],
  );
  const smallAll = taskGroups(small, smallCounts, { status: null, model: null });
  const onlyCompleted = { status: "completed", model: null };
  const smallCompleted = taskGroups(
    small,
    matchingCounts(smallCounts, onlyCompleted),
    onlyCompleted,
  );

  const statements = [
    [
      "Poll (getTask)",
      `SELECT ${TASK_VIEW_COLUMNS} FROM tasks WHERE id = $1 AND account_id = $2`,
      ["task-000050000", "acct_big"],
    ],
    [
      "API key lookup (every request)",
      `SELECT k.id, a.group_name, g.multiplier_ppm FROM api_keys k JOIN accounts a ON a.id = k.account_id
       JOIN groups g ON g.name = a.group_name WHERE k.key_hash = $1`,
      ["kh"],
    ],
    [
      "Submission: the key's hold (darkroom_submit)",
      `UPDATE api_keys k SET held_micros = k.held_micros + $2, active_tasks = k.active_tasks + 1
       WHERE k.id = $1 AND (k.credit_limit_micros IS NULL OR k.credit_limit_micros - k.used_micros - k.held_micros >= $2)
         AND (k.max_concurrent IS NULL OR k.active_tasks < k.max_concurrent)`,
      ["key_big", 1800000],
    ],
    [
      "Submission: the account's hold (darkroom_submit)",
      `UPDATE accounts a SET held_micros = a.held_micros + $2
       WHERE a.id = $1 AND a.balance_micros - a.held_micros >= $2 RETURNING a.balance_micros, a.held_micros`,
      ["acct_big", 1800000],
    ],
    [
      "Claim: lapsed leases (darkroom_claim)",
      `SELECT t.id, t.model FROM tasks t
       WHERE t.status = 'processing' AND t.lease_expires_ms < $1 AND t.model <> ALL ('{}'::text[])
       ORDER BY t.lease_expires_ms LIMIT 8 FOR UPDATE SKIP LOCKED`,
      [now],
    ],
    [
      "Claim: pending, oldest first (darkroom_claim)",
      `SELECT t.id, t.model FROM tasks t
       WHERE t.status = 'pending' AND t.run_after_ms <= $1 AND t.model <> ALL ('{}'::text[])
       ORDER BY t.run_after_ms LIMIT 8 FOR UPDATE SKIP LOCKED`,
      [now],
    ],
    [
      "List: the account's counts (total and walks)",
      `SELECT model, status, n FROM task_counts WHERE account_id = $1 AND n > 0`,
      ["acct_big"],
    ],
    ["List: page 1", keyset.readSql(all, false), keyset.readParams(all, null, 21)],
    [
      "List: deep cursor (45 % into the account's history)",
      keyset.readSql(all, true),
      keyset.readParams(all, after, 21),
    ],
    [
      "List: page 10 of 20 by number (the skip, key columns only)",
      keyset.skipSql(all),
      keyset.skipParams(all, 180),
    ],
    [
      "List: page 3 of 20, status = completed (the skip over one walk per model)",
      keyset.skipSql(completed),
      keyset.skipParams(completed, 40),
    ],
    [
      "List: status = completed, deep cursor, one walk per model, merged",
      keyset.readSql(completed, true),
      keyset.readParams(completed, after, 21),
    ],
    [
      "List: status = completed, page 1",
      keyset.readSql(completed, false),
      keyset.readParams(completed, null, 21),
    ],
    [
      "List: a small account's page 1",
      keyset.readSql(smallAll, false),
      keyset.readParams(smallAll, null, 21),
    ],
    [
      "List: a small account's page 1, status = completed",
      keyset.readSql(smallCompleted, false),
      keyset.readParams(smallCompleted, null, 21),
    ],
  ];

  console.log(
    `# Plans at ${TASKS} tasks (PostgreSQL ${(await q("SHOW server_version"))[0].server_version})\n`,
  );
  for (const [title, sql, params] of statements) {
    // EXPLAIN ANALYZE runs the statement: in a transaction rolled back, so the UPDATEs leave nothing.
    await admin.query("BEGIN");
    const r = await admin.query(
      `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) ${sql}`,
      params,
    );
    await admin.query("ROLLBACK");
    const plan = r.rows.map((row) => row["QUERY PLAN"]);
    console.log(`## ${title}\n\n\`\`\`\n${plan.join("\n")}\n\`\`\`\n`);
  }
} finally {
  await s.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
