/**
 * Keyset pages on SQLite: every listing (tasks, accounts, ledger, deliveries) reads a
 * page as a bounded walk of an index, whatever its depth, instead of `OFFSET` over the
 * rows, which steps over every row before the page, and `COUNT(*)`, which reads every
 * row that matches.
 *
 * A listing has an order (`key`: columns, all descending, the last one unique, e.g.
 * created_ms then id) and a filter given as one or more *groups* of equality
 * conditions. Each group must be served by an index made of its columns followed by
 * the key, so that its walk reads the entries it returns and no other (tests check the
 * plans). One group is one walk. Several groups (a filter no single index serves, e.g.
 * tasks of one model in any status) are one `UNION ALL` of their walks under the
 * listing's ORDER BY, which SQLite runs as a streaming merge of index walks: each walk
 * is read only as far as the merge takes rows from it, so a page costs O(page + groups).
 * (A merge in JavaScript of index-only walks took 1.3 ms at page 50 of a million tasks,
 * most of it building arrays; SQLite's merge took 0.2 ms.)
 *
 * Page numbers: the same walk with only the key columns, from the top, stepping over
 * `offset` rows inside the index (no row of the table is read), finds the position
 * before the page; the page is then read after that position like a cursor's. Callers
 * bound `offset` (PAGE_DEPTH).
 *
 * Callers run a listing inside one read transaction, so its walks and counts see one
 * snapshot.
 */
import type Database from "better-sqlite3";
import { pageOffset, TOTAL_CAP, type ListPage, type ListQuery } from "../../core/paging.js";
import type { SqliteConnection } from "./connection.js";

/** The values of a row's key columns, in order. */
export type Key = Array<string | number>;

/** Equality conditions: a row is in the group when every column has its value. */
export type Group = ReadonlyArray<readonly [column: string, value: string | number]>;

export interface KeysetListing {
  table: string;
  /** The order, every column descending; the last one is unique. */
  key: readonly string[];
  /** What a row reads (`*` or a list). */
  columns: string;
  /** Rows as arrays of `columns` (better-sqlite3's raw mode: no object per row). */
  raw: boolean;
}

export type KeysetStart = { offset: number } | { after: Key };

export interface KeysetPage {
  rows: unknown[];
  /** The key of the page's last row when more rows follow it; null at the end. */
  next: Key | null;
}

export class Keyset {
  private readonly statements = new Map<string, Database.Statement>();
  /** The key columns under names of their own, after the row's columns. */
  private readonly keySelect: string;
  private readonly order: string;

  constructor(
    private readonly db: { prepare(sql: string): Database.Statement },
    private readonly listing: KeysetListing,
  ) {
    this.keySelect = listing.key.map((c, i) => `${c} AS key_${i}`).join(", ");
    this.order = listing.key.map((_, i) => `key_${i} DESC`).join(", ");
  }

  /** One page of the rows in any of `groups` (none: an empty page), in key order. */
  page(groups: readonly Group[], pageSize: number, start: KeysetStart): KeysetPage {
    if (groups.length === 0) return { rows: [], next: null };
    let after = "after" in start ? start.after : null;
    if ("offset" in start && start.offset > 0) {
      const skip = this.statement(this.skipSql(groups), "raw");
      const found = skip.get(...groups.flatMap(values), start.offset - 1);
      if (found === undefined) return { rows: [], next: null };
      after = found as Key;
    }
    const read = this.statement(
      this.readSql(groups, after !== null),
      this.listing.raw ? "raw" : "rows",
    );
    const rows = read.all(...groups.flatMap((g) => [...values(g), ...(after ?? [])]), pageSize + 1);
    if (rows.length <= pageSize) return { rows, next: null };
    const page = rows.slice(0, pageSize);
    return { rows: page, next: this.keyOf(page[page.length - 1]) };
  }

  /** The key of the row `offset` rows down (params: each group's values, then offset, limit 1). */
  skipSql(groups: readonly Group[]): string {
    return `${this.walks(groups, this.keySelect, false)} LIMIT 1 OFFSET ?`;
  }

  /** A page's rows (params: per group its values and the position if `after`; then the limit). */
  readSql(groups: readonly Group[], after: boolean): string {
    return `${this.walks(groups, `${this.listing.columns}, ${this.keySelect}`, after)} LIMIT ?`;
  }

  /** How many rows are in `groups`, counting no further than `cap` (index entries only). */
  count(groups: readonly Group[], cap: number): number {
    let n = 0;
    for (const g of groups) {
      if (n >= cap) break;
      const sql = `SELECT COUNT(*) FROM (SELECT 1 FROM ${this.listing.table} ${this.where(g, false)} LIMIT ?)`;
      n += Number(this.statement(sql, "pluck").get(...values(g), cap - n));
    }
    return Math.min(n, cap);
  }

  /** Each group's walk, after a position or from the top, merged in key order. */
  private walks(groups: readonly Group[], select: string, after: boolean): string {
    const arms = groups.map(
      (g) => `SELECT ${select} FROM ${this.listing.table} ${this.where(g, after)}`,
    );
    return `${arms.join(" UNION ALL ")} ORDER BY ${this.order}`;
  }

  /** The group's conditions, and "after a position" when the walk continues from one. */
  private where(g: Group, after: boolean): string {
    const conds = g.map(([c]) => `${c} = ?`);
    if (after) {
      const cols = this.listing.key.join(", ");
      conds.push(`(${cols}) < (${this.listing.key.map(() => "?").join(", ")})`);
    }
    return conds.length ? `WHERE ${conds.join(" AND ")}` : "";
  }

  private keyOf(row: unknown): Key {
    if (this.listing.raw) return (row as unknown[]).slice(-this.listing.key.length) as Key;
    const r = row as Record<string, string | number>;
    return this.listing.key.map((_, i) => r[`key_${i}`]!);
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

function values(g: Group): Array<string | number> {
  return g.map(([, v]) => v);
}

/** A listing's start as keyset.ts takes it; a page number deeper than PAGE_DEPTH throws. */
export function keysetStart<P>(
  q: ListQuery<P>,
  key: (p: P) => Array<string | number>,
): KeysetStart {
  return "page" in q.start
    ? { offset: pageOffset(q.start.page, q.pageSize) }
    : { after: key(q.start.after) };
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
    const { rows, next } = keyset.page(groups, q.pageSize, start);
    // One more than the cap tells "exactly TOTAL_CAP" from "more than that".
    const counted = keyset.count(groups, TOTAL_CAP + 1);
    const last = rows[rows.length - 1] as R | undefined;
    return {
      data: (rows as R[]).map(convert.row),
      total: Math.min(counted, TOTAL_CAP),
      totalCapped: counted > TOTAL_CAP,
      next: next && last ? convert.position(last) : null,
    };
  })();
}
