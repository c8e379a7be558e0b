/**
 * The operator's listings on PostgreSQL walk indexes, never the table (issue 13's "O(page)"
 * and issue 14's "index-only on the hot paths"): with enough rows that the planner
 * weighs its choices, every read of accounts, ledger and deliveries — first page, after
 * a cursor, the skip to a numbered page — scans an index named for its filter, no
 * sequential scan; and a filter merged from several walks (deliveries of every status)
 * is a Merge Append of bounded index walks, not a sort of every matching row.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Group } from "../../../src/store/keyset-plan.js";
import {
  ACCOUNT_LISTING,
  DELIVERY_LISTING,
  deliveryWalks,
  LEDGER_LISTING,
  ledgerWalk,
} from "../../../src/store/operator-listings.js";
import type { PgDatabase } from "../../../src/store/postgres/database.js";
import { PgKeyset } from "../../../src/store/postgres/keyset.js";
import { migratedSchema, postgresAnswers } from "../../helpers/postgres.js";

const up = await postgresAnswers();
const T0 = 1_800_000_000_000;
const asIs = (c: string) => c;

describe.skipIf(!up)("operator listing plans on PostgreSQL", () => {
  let db: PgDatabase;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, drop } = await migratedSchema());
    await db.query(`INSERT INTO groups VALUES ('default', 1000000, 0)`);
    await db.query(
      `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms)
       SELECT 'acct_' || i, 'n' || i, 'default', 'w', $1::bigint + i / 3
       FROM generate_series(1, 20000) AS i`,
      [T0],
    );
    await db.query(
      `INSERT INTO ledger_entries (account_id, task_id, kind, amount_micros,
         balance_after_micros, held_after_micros, created_ms)
       SELECT 'acct_' || (i % 50 + 1), CASE WHEN i % 2 = 0 THEN 'task_' || (i / 4) END,
              (ARRAY['reserve', 'capture', 'release', 'topup'])[i % 4 + 1], 1, 1, 1, $1
       FROM generate_series(1, 100000) AS i
       ON CONFLICT DO NOTHING`,
      [T0],
    );
    await db.query(
      `INSERT INTO webhook_outbox (id, task_id, account_id, url, status, next_attempt_ms, created_ms)
       SELECT 'msg_' || i, 'task_' || i, 'acct_' || (i % 50 + 1), 'https://hooks.example/x',
              (ARRAY['pending', 'delivered', 'failed', 'delivered'])[i % 4 + 1], $1, $1::bigint + i / 5
       FROM generate_series(1, 100000) AS i`,
      [T0],
    );
    await db.query(`ANALYZE`);
  }, 120_000);

  afterAll(async () => {
    await drop?.();
  });

  async function explain(sql: string, params: unknown[]): Promise<string[]> {
    const rows = await db.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params);
    return rows.map((r) => r["QUERY PLAN"]);
  }

  /** The plans of a listing's three reads: first page, after a cursor, page-number skip. */
  async function plans(keyset: PgKeyset, groups: Group[]): Promise<string[][]> {
    const key = keyset.listing.key.map((c) => (c === "id" ? "msg_5" : T0 + 100));
    const position = keyset.listing.table === "ledger_entries" ? [50_000] : key;
    return [
      await explain(keyset.readSql(groups, false), keyset.readParams(groups, null, 21)),
      await explain(keyset.readSql(groups, true), keyset.readParams(groups, position, 21)),
      await explain(keyset.skipSql(groups), keyset.skipParams(groups, 979)),
    ];
  }

  const cases: Array<[string, PgKeyset, Group[], RegExp]> = [
    ["accounts", new PgKeyset(ACCOUNT_LISTING), [[]], /accounts_created/],
    ["ledger", new PgKeyset(LEDGER_LISTING), [ledgerWalk({}, asIs)], /ledger_entries_pkey/],
    [
      "ledger by account",
      new PgKeyset(LEDGER_LISTING),
      [ledgerWalk({ accountId: "acct_3" }, asIs)],
      /ledger_account|ledger_entries_pkey/,
    ],
    [
      "ledger by task and account",
      new PgKeyset(LEDGER_LISTING),
      [ledgerWalk({ taskId: "task_8", accountId: "acct_3" }, asIs)],
      /ledger_task_once/,
    ],
    [
      "deliveries by account and status",
      new PgKeyset(DELIVERY_LISTING),
      deliveryWalks({ accountId: "acct_3", status: "failed" }, asIs),
      /webhook_outbox_account_status/,
    ],
    [
      "deliveries by task",
      new PgKeyset(DELIVERY_LISTING),
      deliveryWalks({ taskId: "task_9", accountId: "acct_3", status: "failed" }, asIs),
      /webhook_outbox_task_id_key/,
    ],
  ];

  it.each(cases)("%s: an index walk, no sequential scan", async (_name, keyset, groups, index) => {
    for (const plan of await plans(keyset, groups)) {
      const text = plan.join("\n");
      expect(text).toMatch(index);
      expect(text).not.toContain("Seq Scan");
    }
  });

  it.each([
    ["deliveries", {}, /webhook_outbox_status_list/],
    ["deliveries of an account", { accountId: "acct_3" }, /webhook_outbox_account_status/],
  ] as const)(
    "%s: several walks merged in index order, not sorted",
    async (_name, filter, index) => {
      const keyset = new PgKeyset(DELIVERY_LISTING);
      const groups = deliveryWalks(filter, asIs);
      expect(groups).toHaveLength(3);
      for (const plan of await plans(keyset, groups)) {
        const text = plan.join("\n");
        // The merge sits right under the page's Limit: no Sort over every walk's rows.
        expect(plan[0], text).toMatch(/^Limit/);
        expect(plan[1], text).toMatch(/^\s*->\s+Merge Append/);
        expect(text).toMatch(index);
        expect(text).not.toContain("Seq Scan");
      }
    },
  );
});
