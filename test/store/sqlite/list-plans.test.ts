/**
 * Issue 13 ("History is O(page)"): every walk a task listing takes reads an index whose
 * columns are the filter's followed by (created_ms, id), so it reads the entries it
 * returns and no other: no scan, no sort, whatever the filter and however deep. The
 * operator's listings likewise walk the index their filter names.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TaskStatus } from "../../../src/core/types.js";
import { ACCOUNT_LISTING, LEDGER_LISTING, ledgerGroup } from "../../../src/store/sqlite/admin.js";
import { Keyset, type Group, type KeysetListing } from "../../../src/store/sqlite/keyset.js";
import {
  TASK_COUNTS_SQL,
  TASK_LISTING,
  taskGroups,
  type CountRow,
} from "../../../src/store/keyset-plan.js";
import { DELIVERY_LISTING, deliveryGroups } from "../../../src/store/sqlite/outbox.js";
import { openSqliteTestStore, type SqliteTestStore } from "./helpers.js";

const opened: SqliteTestStore[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

const MODELS = ["doubao-seedream-4.0", "doubao-seedream-4.5", "doubao-seedream-5.0-lite"];
const STATUSES: TaskStatus[] = ["pending", "processing", "completed", "failed"];
const FILTERS = [null, ...STATUSES].flatMap((status) =>
  [null, ...MODELS].map((model) => ({ status, model })),
);
/** Every (status, model) holds tasks: the widest merges there are. */
const COUNTS: CountRow[] = STATUSES.flatMap((status) =>
  MODELS.map((model) => ({ status, model, n: 1 })),
);

function plan(t: SqliteTestStore, sql: string, params: unknown[]): string[] {
  const rows = t.connection.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{
    detail: string;
  }>;
  return rows.map((r) => r.detail);
}

const params = (groups: Group[], after: boolean, key: unknown[] = [1, "task-unified-1-aaaaaaaa"]) =>
  groups.flatMap((g) => [...g.map(([, v]) => v), ...(after ? key : [])]);

/** The plans of a listing's three reads: first page, after a cursor, the page-number skip. */
function plans(t: SqliteTestStore, listing: KeysetListing, groups: Group[]): string[] {
  const keyset = new Keyset(t.connection, listing);
  const key = listing.key.map((_, i) => i);
  return [
    plan(t, keyset.readSql(groups, false), [...params(groups, false), 21]),
    plan(t, keyset.readSql(groups, true), [...params(groups, true, key), 21]),
    plan(t, keyset.skipSql(groups), [...params(groups, false), 980]),
  ].map((details) => details.join(" | "));
}

describe("task listing plans", () => {
  it("walks one index per group, in order, for every filter, page number and cursor", async () => {
    const t = await openSqliteTestStore();
    opened.push(t);
    const keyset = new Keyset(t.connection, TASK_LISTING);
    for (const f of FILTERS) {
      const counts = COUNTS.filter(
        (c) =>
          (f.status === null || c.status === f.status) && (f.model === null || c.model === f.model),
      );
      const groups = taskGroups("acct_x", counts, f);
      const expectedIndex =
        f.status === null && f.model === null ? "tasks_account_list" : "tasks_account_status_model";
      const equalities =
        f.status === null && f.model === null
          ? "account_id=?"
          : "account_id=? AND status=? AND model=?";
      const cases: Array<[string, string[]]> = [
        ["first page", plan(t, keyset.readSql(groups, false), [...params(groups, false), 21])],
        ["after a cursor", plan(t, keyset.readSql(groups, true), [...params(groups, true), 21])],
        ["page number", plan(t, keyset.skipSql(groups), [...params(groups, false), 980])],
      ];
      for (const [what, details] of cases) {
        const label = `${JSON.stringify(f)} ${what}: ${details.join(" | ")}`;
        const walks = details.filter((d) => d.startsWith("SEARCH") || d.startsWith("SCAN"));
        expect(walks, label).toHaveLength(groups.length);
        for (const w of walks) {
          expect(w, label).toContain(
            `USING ${what === "page number" ? "COVERING " : ""}INDEX ${expectedIndex} (${equalities}`,
          );
          if (what === "after a cursor") expect(w, label).toContain("(created_ms,id)<(?,?)");
        }
        expect(details.join(" | "), label).not.toMatch(/TEMP B-TREE|SCAN/);
        if (groups.length > 1) expect(details, label).toContain("MERGE (UNION ALL)");
      }
    }
  });

  it("reads the total from task_counts, never from the tasks", async () => {
    const t = await openSqliteTestStore();
    opened.push(t);
    const details = plan(t, TASK_COUNTS_SQL, ["a"]);
    expect(details.join(" | ")).toMatch(/^SEARCH task_counts USING PRIMARY KEY \(account_id=\?\)$/);
  });

  it("walks the operator's listings on the index their filter names", async () => {
    const t = await openSqliteTestStore();
    opened.push(t);
    const cases: Array<[string, KeysetListing, Group[], RegExp]> = [
      // No filter: the table or index in order, stopped by LIMIT.
      [
        "accounts",
        ACCOUNT_LISTING,
        [[]],
        /^(SCAN|SEARCH) accounts USING (COVERING )?INDEX accounts_created/,
      ],
      [
        "ledger",
        LEDGER_LISTING,
        [ledgerGroup({})],
        /^(SCAN ledger_entries|SEARCH ledger_entries USING INTEGER PRIMARY KEY \(rowid<\?\))$/,
      ],
      [
        "ledger by account",
        LEDGER_LISTING,
        [ledgerGroup({ accountId: "a" })],
        /^SEARCH ledger_entries USING (COVERING )?INDEX ledger_account \(account_id=\?/,
      ],
      // At most five entries per task: sorting them is bounded.
      [
        "ledger by task",
        LEDGER_LISTING,
        [ledgerGroup({ taskId: "t" })],
        /^SEARCH ledger_entries USING (COVERING )?INDEX ledger_task_once \(task_id=\?\)/,
      ],
      [
        "ledger by task and account",
        LEDGER_LISTING,
        [ledgerGroup({ taskId: "t", accountId: "a" })],
        /^SEARCH ledger_entries USING (COVERING )?INDEX ledger_task_once \(task_id=\?\)/,
      ],
      [
        "deliveries",
        DELIVERY_LISTING,
        deliveryGroups({}),
        /SEARCH webhook_outbox USING (COVERING )?INDEX webhook_outbox_status_list \(status=\?/,
      ],
      [
        "deliveries by account",
        DELIVERY_LISTING,
        deliveryGroups({ accountId: "a" }),
        /SEARCH webhook_outbox USING (COVERING )?INDEX webhook_outbox_account_status \(account_id=\? AND status=\?/,
      ],
      [
        "deliveries by status",
        DELIVERY_LISTING,
        deliveryGroups({ status: "failed" }),
        /^SEARCH webhook_outbox USING (COVERING )?INDEX webhook_outbox_status_list \(status=\?/,
      ],
      [
        "deliveries by account and status",
        DELIVERY_LISTING,
        deliveryGroups({ accountId: "a", status: "failed" }),
        /^SEARCH webhook_outbox USING (COVERING )?INDEX webhook_outbox_account_status \(account_id=\? AND status=\?/,
      ],
      [
        "deliveries by task",
        DELIVERY_LISTING,
        deliveryGroups({ taskId: "t", accountId: "a", status: "failed" }),
        /^SEARCH webhook_outbox USING INDEX sqlite_autoindex_webhook_outbox_2 \(task_id=\?\)$/,
      ],
    ];
    for (const [what, listing, groups, expected] of cases) {
      for (const details of plans(t, listing, groups)) {
        expect(details, what).toMatch(expected);
        if (!what.includes("by task")) expect(details, what).not.toMatch(/TEMP B-TREE/);
      }
    }
  });
});
