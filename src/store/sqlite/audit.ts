/**
 * The consistency audit (store/ledger-audit.ts) on SQLite.
 *
 * It reads everything, which is its purpose, so a serving process never runs its reads
 * on the event loop: `auditOnThread` runs them on a thread (read-thread.ts) in one
 * snapshot, and only their results, a few rows per account (more only when something
 * is wrong), come back here to be compared.
 */
import type Database from "better-sqlite3";
import type { LedgerProblem } from "../admin.js";
import { AUDIT_SQL, problemsFrom } from "../ledger-audit.js";
import { readOnThread } from "./read-thread.js";

type Reader = { prepare(sql: string): Database.Statement };

/** The audit on this thread, in one read transaction (an in-memory database: tests). */
export function auditLedger(
  db: Reader & { transaction: Database.Database["transaction"] },
): LedgerProblem[] {
  return problemsFrom(db.transaction(() => AUDIT_SQL.map((sql) => db.prepare(sql).all()))());
}

/** The audit's reads on a thread of their own over `file`; the comparison here. */
export async function auditOnThread(file: string): Promise<LedgerProblem[]> {
  return problemsFrom(await readOnThread(file, AUDIT_SQL));
}
