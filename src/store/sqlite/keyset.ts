/**
 * Keyset pages on SQLite: the walks planned by store/keyset-plan.ts, run as prepared
 * statements (one per shape of query: a handful per listing). SQLite runs a UNION ALL
 * of walks under the listing's ORDER BY as a streaming merge of index walks. (A merge
 * in JavaScript of index-only walks took 1.3 ms at page 50 of a million tasks, most of
 * it building arrays; SQLite's merge took 0.2 ms.)
 *
 * Callers run a listing inside one read transaction, so its walks and counts see one
 * snapshot.
 */
import type Database from "better-sqlite3";
import { TOTAL_CAP, type ListPage, type ListQuery } from "../../core/paging.js";
import {
  groupValues,
  keysetStart,
  KeysetSql,
  operatorListPage,
  type Group,
  type Key,
  type KeysetListing,
  type KeysetPage,
  type KeysetStart,
} from "../keyset-plan.js";
import type { SqliteConnection } from "./connection.js";

export type { Group, Key, KeysetListing, KeysetPage, KeysetStart } from "../keyset-plan.js";
export { keysetStart } from "../keyset-plan.js";

export class Keyset {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly sql: KeysetSql;

  constructor(
    private readonly db: { prepare(sql: string): Database.Statement },
    private readonly listing: KeysetListing,
  ) {
    this.sql = new KeysetSql(listing);
  }

  /** One page of the rows in any of `groups` (none: an empty page), in key order. */
  page(groups: readonly Group[], pageSize: number, start: KeysetStart): KeysetPage {
    if (groups.length === 0) return { rows: [], next: null };
    let after = "after" in start ? start.after : null;
    if ("offset" in start && start.offset > 0) {
      const skip = this.statement(this.sql.skipSql(groups), "raw");
      const found = skip.get(...groups.flatMap(groupValues), start.offset - 1);
      if (found === undefined) return { rows: [], next: null };
      after = found as Key;
    }
    const read = this.statement(
      this.sql.readSql(groups, after !== null),
      this.listing.raw ? "raw" : "rows",
    );
    const rows = read.all(...this.sql.readParams(groups, after), pageSize + 1);
    if (rows.length <= pageSize) return { rows, next: null };
    const page = rows.slice(0, pageSize);
    return { rows: page, next: this.sql.keyOf(page[page.length - 1], this.listing.raw) };
  }

  /** The key of the row `offset` rows down (params: each group's values, then offset, limit 1). */
  skipSql(groups: readonly Group[]): string {
    return this.sql.skipSql(groups);
  }

  /** A page's rows (params: per group its values and the position if `after`; then the limit). */
  readSql(groups: readonly Group[], after: boolean): string {
    return this.sql.readSql(groups, after);
  }

  /** How many rows are in `groups`, counting no further than `cap` (index entries only). */
  count(groups: readonly Group[], cap: number): number {
    let n = 0;
    for (const g of groups) {
      if (n >= cap) break;
      const st = this.statement(this.sql.countSql(g), "pluck");
      n += Number(st.get(...groupValues(g), cap - n));
    }
    return Math.min(n, cap);
  }

  /** Prepared once per shape of query: a handful per listing. */
  private statement(sql: string, mode: "raw" | "rows" | "pluck"): Database.Statement {
    const id = `${mode}:${sql}`;
    let s = this.statements.get(id);
    if (!s) {
      s = this.db.prepare(sql);
      if (mode === "raw") s.raw(true);
      if (mode === "pluck") s.pluck(true);
      this.statements.set(id, s);
    }
    return s;
  }
}

/** One page of an operator's listing, its total counted up to TOTAL_CAP, in one read transaction. */
export function operatorPage<R, T, P>(
  conn: SqliteConnection,
  keyset: Keyset,
  groups: readonly Group[],
  q: ListQuery<P>,
  key: (p: P) => Array<string | number>,
  convert: { row: (r: R) => T; position: (r: R) => P },
): ListPage<T, P> {
  const start = keysetStart(q, key);
  return conn.transaction(() => {
    const page = keyset.page(groups, q.pageSize, start);
    return operatorListPage(page, keyset.count(groups, TOTAL_CAP + 1), TOTAL_CAP, convert);
  })();
}

/** `+column`: SQLite's idiom that keeps a condition off every index (operator-listings.ts). */
export const sqliteOffIndex = (column: string): string => `+${column}`;
