/**
 * Keyset pages on PostgreSQL: the walks planned by store/keyset-plan.ts, sent with
 * numbered parameters. Rows come back as objects whatever the listing's `raw` says
 * (the key is read from the `key_<i>` columns). Several walks are a UNION ALL of
 * bounded walks, each with its own ORDER BY and LIMIT, which PostgreSQL runs as a
 * Merge Append of backward index scans, each read only as far as the merge takes rows
 * from it (flattened arms, as SQLite takes them, are all read and sorted instead);
 * the position `(created_ms, id) < ($1, $2)` is a row-value comparison that the btree
 * serves directly.
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
  type Key,
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
      const skip = this.skipSql(groups);
      const [found] = await c.query(skip, this.skipParams(groups, start.offset - 1));
      if (found === undefined) return { rows: [], next: null };
      after = this.sql.keyOf(found, false);
    }
    const read = this.readSql(groups, after !== null);
    const rows = await c.query(read, this.readParams(groups, after, pageSize + 1));
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

  /**
   * The skip to a numbered page's position: the key of the row `offset` rows down
   * (numbered parameters, skipParams; also for plans and tests). Several groups are
   * merged as bounded walks (KeysetSql.boundedWalksSql), each read at most offset + 1
   * rows deep, so PostgreSQL merges their index scans instead of sorting every row.
   */
  skipSql(groups: readonly Group[]): string {
    if (groups.length === 1) return this.text(this.sql.skipSql(groups));
    return this.text(this.sql.boundedWalksSql(groups, true, false, "LIMIT 1 OFFSET ?"));
  }

  skipParams(groups: readonly Group[], offset: number): Array<string | number> {
    if (groups.length === 1) return [...groupValues(groups[0]!), offset];
    return [...groups.flatMap((g) => [...groupValues(g), offset + 1]), offset];
  }

  /** A page's read (numbered parameters, readParams; also for plans and tests). */
  readSql(groups: readonly Group[], after: boolean): string {
    if (groups.length === 1) return this.text(this.sql.readSql(groups, after));
    return this.text(this.sql.boundedWalksSql(groups, false, after, "LIMIT ?"));
  }

  readParams(groups: readonly Group[], after: Key | null, limit: number): Array<string | number> {
    if (groups.length === 1) return [...this.sql.readParams(groups, after), limit];
    return [...groups.flatMap((g) => [...groupValues(g), ...(after ?? []), limit]), limit];
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
