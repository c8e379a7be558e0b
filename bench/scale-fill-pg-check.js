#!/usr/bin/env node
// Checks bench/scale-fill-pg.js's fast fill (not a test; needs PostgreSQL and `npm run
// build`): two schemas migrated as a gateway does, one filled the slow way (every
// trigger, foreign-key check and index live) and one the fast way (triggers off, what
// they keep written set-wise, non-unique indexes rebuilt), both from the same random
// sequence, in several chunks and two grows. Exits 1 unless:
//
// - every filled table holds the same rows in both (so the fast fill writes the same
//   history), and task_counts, model_queue and task_minutes (summed per minute: its
//   writer is the connection's pid) are the same as the triggers left them;
// - in both, those tables equal a recount of the tasks (GROUP BY), and every foreign
//   key holds (the fast fill skipped their checks);
// - both schemas have the same indexes, and the same triggers.
//
//   npm run build && node bench/scale-fill-pg-check.js   # BENCH_CHECK_TASKS=10000
import { performance } from "node:perf_hooks";
import pg from "pg";
import { PgDatabase } from "../dist/store/postgres/database.js";
import { migratePostgres } from "../dist/store/postgres/migrate.js";
import { PgScaleFill } from "./scale-fill-pg.js";

const DB_URL = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const TASKS = Number(process.env.BENCH_CHECK_TASKS || 10_000);
const DAY = 86_400_000;
const log = (...a) => console.error("[fill check]", ...a);

/** A schema as a gateway leaves it: migrated, with its bootstrap account and key. */
async function gatewaySchema(name, nowMs) {
  const db = new PgDatabase(DB_URL, { schema: name });
  await db.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
  await db.query(`CREATE SCHEMA ${name}`);
  await migratePostgres(db);
  // What PgStore.bootstrap writes.
  const credits = 1_000_000_000 * 1_000_000;
  await db.query(
    `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES ('default', 1000000, $1)`,
    [nowMs],
  );
  await db.query(
    `INSERT INTO accounts (id, name, group_name, balance_micros, webhook_secret, created_ms)
     VALUES ('acct_bench', 'bench', 'default', $1, 'whsec_bench', $2)`,
    [credits, nowMs],
  );
  await db.query(
    `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros,
       held_after_micros, reason, created_ms)
     VALUES ('acct_bench', 'topup', $1, $1, 0, 'initial credits', $2)`,
    [credits, nowMs],
  );
  await db.query(
    `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_ms)
     VALUES ('key_bench', 'acct_bench', 'bootstrap', 'hash_bench', 'sk-bench', $1)`,
    [nowMs],
  );
  await db.close();
}

async function filled(name, fast, endMs) {
  const fill = await PgScaleFill.create(DB_URL, name, {
    accounts: 50,
    bigShare: 0.8,
    maxTasks: TASKS,
    spanMs: 3 * DAY,
    endMs,
    sample: 10,
    fast,
    seed: 0.25,
    chunk: Math.ceil(TASKS / 7), // several chunks: the derived rows add up across them
  });
  await fill.grow(Math.floor(TASKS / 3));
  await fill.grow(TASKS);
  await fill.close();
}

const c = new pg.Client({ connectionString: DB_URL });
const failures = [];
const q = async (sql) => (await c.query(sql)).rows;
/** Rows of `a` not in `b` and of `b` not in `a`: both empty, or a failure. */
async function same(what, a, b) {
  const [r] = await q(
    `SELECT (SELECT count(*) FROM (${a} EXCEPT ALL ${b}) x) AS only_a,
            (SELECT count(*) FROM (${b} EXCEPT ALL ${a}) y) AS only_b,
            (SELECT count(*) FROM (${a}) z) AS rows`,
  );
  const ok = Number(r.only_a) === 0 && Number(r.only_b) === 0;
  log(`${ok ? "ok  " : "FAIL"} ${what}: ${r.rows} rows, ${r.only_a} / ${r.only_b} differ`);
  if (!ok) failures.push(what);
}

const slow = `fill_check_slow_${process.pid}`;
const fast = `fill_check_fast_${process.pid}`;
try {
  await c.connect();
  const endMs = Date.now() - 3_600_000;
  for (const s of [slow, fast]) await gatewaySchema(s, endMs - 4 * DAY);
  let t = performance.now();
  await filled(slow, false, endMs);
  log(`slow fill of ${TASKS} tasks: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  await filled(fast, true, endMs);
  log(`fast fill of ${TASKS} tasks: ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // The same rows (ids of identity columns included: the same inserts in the same order).
  for (const table of [
    "tasks",
    "ledger_entries",
    "webhook_outbox",
    "webhook_attempts",
    "idempotency_keys",
    "accounts",
    "api_keys",
    "task_counts",
    "model_queue",
  ])
    await same(
      `${table}: fast = slow`,
      `SELECT * FROM ${fast}.${table}`,
      `SELECT * FROM ${slow}.${table}`,
    );
  const minutes = (s) =>
    `SELECT minute_s, sum(submitted) AS submitted, sum(completed) AS completed, sum(failed) AS failed,
       sum(credits_used_micros) AS credits FROM ${s}.task_minutes GROUP BY minute_s`;
  await same("task_minutes: fast = slow (summed over writers)", minutes(fast), minutes(slow));

  for (const s of [slow, fast]) {
    const kind = s === slow ? "slow" : "fast";
    await same(
      `task_counts = recount (${kind})`,
      `SELECT account_id, model, status, n FROM ${s}.task_counts WHERE n > 0`,
      `SELECT account_id, model, status, count(*) FROM ${s}.tasks GROUP BY 1, 2, 3`,
    );
    await same(
      `model_queue = recount (${kind})`,
      `SELECT model, pending FROM ${s}.model_queue WHERE pending > 0`,
      `SELECT model, count(*) FROM ${s}.tasks WHERE status = 'pending' GROUP BY 1`,
    );
    await same(
      `task_minutes = recount (${kind})`,
      `SELECT minute_s, submitted FROM (${minutes(s)}) m WHERE submitted > 0`,
      `SELECT created_ms / 60000 * 60, count(*) FROM ${s}.tasks GROUP BY 1`,
    );
    // Every foreign key (all single-column here): no row points at nothing.
    const fks = await q(
      `SELECT c.conname, c.conrelid::regclass::text AS tbl, a.attname AS col,
         c.confrelid::regclass::text AS ref, b.attname AS refcol
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
       JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1]
       WHERE n.nspname = '${s}' AND c.contype = 'f' AND cardinality(c.conkey) = 1`,
    );
    for (const fk of fks)
      await same(
        `foreign key ${fk.conname} holds (${kind})`,
        `SELECT t.${fk.col} FROM ${fk.tbl} t WHERE t.${fk.col} IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ${fk.ref} r WHERE r.${fk.refcol} = t.${fk.col})`,
        `SELECT NULL::text WHERE false`,
      );
  }

  const defs = (s) =>
    `SELECT tablename, indexname, replace(indexdef, '${s}.', '') AS def FROM pg_indexes WHERE schemaname = '${s}'`;
  await same("indexes: fast = slow", defs(fast), defs(slow));
  const triggers = (s) =>
    `SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${s}' AND NOT t.tgisinternal`;
  await same("triggers: fast = slow", triggers(fast), triggers(slow));
} finally {
  for (const s of [slow, fast]) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
  await c.end();
}
if (failures.length > 0) {
  log(`${failures.length} check(s) failed`);
  process.exit(1);
}
log("the fast fill leaves the same store as the slow one");
