/**
 * The consistency audit behind `GET /admin/v1/ledger/check` (AdminStore.checkLedger),
 * shared by the SQL backends: re-derives every account's balance, hold and usage from
 * the ledger, checks holds against the open tasks, that every finished task was settled
 * exactly once, and that the task counts behind listing totals (task_counts, kept by
 * triggers) match the tasks. Each backend runs AUDIT_SQL in one snapshot its own way
 * (SQLite: on a thread; PostgreSQL: one read-only transaction) and compares here.
 */
import type { LedgerProblem } from "./admin.js";

/** Accounts with their ledger sums; open holds; unsettled tasks; miscounted task groups. */
export const AUDIT_SQL = [
  `SELECT a.id, a.balance_micros, a.held_micros, a.used_micros,
     COALESCE(SUM(CASE WHEN l.kind IN ('topup', 'adjust') THEN l.amount_micros END), 0) AS credited,
     COALESCE(SUM(CASE WHEN l.kind = 'capture' THEN l.amount_micros END), 0) AS captured,
     COALESCE(SUM(CASE WHEN l.kind = 'reserve' THEN l.amount_micros END), 0) AS reserved,
     COALESCE(SUM(CASE WHEN l.kind = 'release' THEN l.amount_micros END), 0) AS released
   FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id GROUP BY a.id`,
  `SELECT account_id, SUM(credits_reserved_micros) AS s FROM tasks
   WHERE status IN ('pending', 'processing') GROUP BY account_id`,
  `SELECT t.account_id, t.id FROM tasks t WHERE t.status IN ('completed', 'failed')
     AND (SELECT COUNT(*) FROM ledger_entries l WHERE l.task_id = t.id AND l.kind IN ('capture', 'release')) <> 2`,
  // Both sides grouped alike and compared group by group (a full outer join).
  `WITH actual AS (SELECT account_id, model, status, COUNT(*) AS n FROM tasks GROUP BY account_id, status, model)
   SELECT account_id, model, status, SUM(counted) AS counted, SUM(actual) AS actual FROM (
     SELECT account_id, model, status, n AS counted, 0 AS actual FROM task_counts
     UNION ALL SELECT account_id, model, status, 0, n FROM actual) AS sides
   GROUP BY account_id, model, status HAVING SUM(counted) <> SUM(actual)`,
];

type AccountSums = Record<string, number> & { id: string };

/** Compares what AUDIT_SQL read (its results, in order): an empty list means consistent. */
export function problemsFrom(results: unknown[][]): LedgerProblem[] {
  const [accounts, open, unsettled, miscounted] = results as [
    AccountSums[],
    Array<{ account_id: string; s: number }>,
    Array<{ account_id: string; id: string }>,
    Array<{ account_id: string; model: string; status: string; counted: number; actual: number }>,
  ];
  const problems: LedgerProblem[] = [];
  const add = (accountId: string, problem: string) => problems.push({ accountId, problem });
  for (const r of accounts) {
    const balance = Number(r.credited) - Number(r.captured);
    const held = Number(r.reserved) - Number(r.captured) - Number(r.released);
    if (Number(r.balance_micros) !== balance)
      add(r.id, `balance ${r.balance_micros} but the ledger gives ${balance}`);
    if (Number(r.held_micros) !== held)
      add(r.id, `held ${r.held_micros} but the ledger gives ${held}`);
    if (Number(r.used_micros) !== Number(r.captured))
      add(r.id, `used ${r.used_micros} but captures sum to ${r.captured}`);
  }
  const openBy = new Map(open.map((o) => [o.account_id, Number(o.s)]));
  for (const r of accounts) {
    const expect = openBy.get(r.id) ?? 0;
    if (Number(r.held_micros) !== expect)
      add(r.id, `held ${r.held_micros} but open tasks reserve ${expect}`);
  }
  for (const u of unsettled)
    add(u.account_id, `task ${u.id} is terminal but not settled exactly once`);
  for (const m of miscounted)
    add(
      m.account_id,
      `task_counts holds ${m.counted} ${m.status} ${m.model} tasks but there are ${m.actual}`,
    );
  return problems;
}
