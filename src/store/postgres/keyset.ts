/**
 * Keyset pages on PostgreSQL: the walks planned by store/keyset-plan.ts, sent with
 * numbered parameters. Rows come back as objects whatever the listing's `raw` says
 * (the key is read from the `key_<i>` columns). PostgreSQL runs a UNION ALL of walks
 * under the ORDER BY as a Merge Append of index scans, each read only as far as the
 * merge takes rows from it; the position `(created_ms, id) < ($1, $2)` is a row-value
 * comparison that the btree serves directly.
 *
 * Every method takes the connection to read on, so that a caller reads a listing's
 * counts and page in one snapshot (pgOperatorPage, or a REPEATABLE READ transaction).
 */
import { TOTAL_CAP, type ListPage, type ListQuery } from "../../core/paging.js";
import {
  groupValues,
  keysetStart,
  KeysetSql,
  operatorListPage,
  type Group,
  type KeysetListing,
  type KeysetPage,
  type KeysetStart,
} from "../keyset-plan.js";
import type { PgDatabase, Queryable, Row } from "./database.js";

/** `?` placeholders, in order, as PostgreSQL's `$1, $2, …` (the plans hold no other `?`). */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

export class PgKeyset {
  private readonly sql: KeysetSql;
  private readonly texts = new Map<string, string>();

  constructor(readonly listing: KeysetListing) {
    this.sql = new KeysetSql(listing);
  }

  /** One page of the rows in any of `groups` (none: an empty page), in key order. */
  async page(
    c: Queryable,
    groups: readonly Group[],
    pageSize: number,
    start: KeysetStart,
  ): Promise<KeysetPage> {
    if (groups.length === 0) return { rows: [], next: null };
    let after = "after" in start ? start.after : null;
    if ("offset" in start && start.offset > 0) {
      const [found] = await c.query(this.skipSql(groups), [
        ...groups.flatMap(groupValues),
        start.offset - 1,
      ]);
      if (found === undefined) return { rows: [], next: null };
      after = this.sql.keyOf(found, false);
    }
    const rows = await c.query(this.readSql(groups, after !== null), [
      ...this.sql.readParams(groups, after),
      pageSize + 1,
    ]);
    if (rows.length <= pageSize) return { rows, next: null };
    const page = rows.slice(0, pageSize);
    return { rows: page, next: this.sql.keyOf(page[page.length - 1], false) };
  }

  /** How many rows are in `groups`, counting no further than `cap` (index entries only). */
  async count(c: Queryable, groups: readonly Group[], cap: number): Promise<number> {
    let n = 0;
    for (const g of groups) {
      if (n >= cap) break;
      const [r] = await c.query<Row & { n: number }>(this.text(this.sql.countSql(g)), [
        ...groupValues(g),
        cap - n,
      ]);
      n += Number(r?.n ?? 0);
    }
    return Math.min(n, cap);
  }

  /** The skip to a numbered page's position (numbered parameters; for plans and tests). */
  skipSql(groups: readonly Group[]): string {
    return this.text(this.sql.skipSql(groups));
  }

  /** A page's read (numbered parameters; for plans and tests). */
  readSql(groups: readonly Group[], after: boolean): string {
    return this.text(this.sql.readSql(groups, after));
  }

  /** Numbered once per shape of query: a handful per listing. */
  private text(sql: string): string {
    let t = this.texts.get(sql);
    if (t === undefined) {
      t = numbered(sql);
      this.texts.set(sql, t);
    }
    return t;
  }
}

/**
 * One page of an operator's listing (accounts, ledger, deliveries) and its total
 * counted up to TOTAL_CAP, read in one REPEATABLE READ transaction so they agree.
 */
export async function pgOperatorPage<R, T, P>(
  db: PgDatabase,
  keyset: PgKeyset,
  groups: readonly Group[],
  q: ListQuery<P>,
  key: (p: P) => Array<string | number>,
  convert: { row: (r: R) => T; position: (r: R) => P },
): Promise<ListPage<T, P>> {
  const start = keysetStart(q, key); // a page number past PAGE_DEPTH throws before any read
  return db.tx(async (c) => {
    const page = await keyset.page(c, groups, q.pageSize, start);
    const counted = await keyset.count(c, groups, TOTAL_CAP + 1);
    return operatorListPage(page, counted, TOTAL_CAP, convert);
  }, "repeatable read");
}
