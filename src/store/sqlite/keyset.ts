/**
 * Keyset pages on SQLite: every listing (tasks, accounts, ledger, deliveries) reads a
 * page as a bounded walk of an index, whatever its depth, instead of `OFFSET`, which
 * steps over every row before the page, and `COUNT(*)`, which reads every row that
 * matches.
 *
 * A listing has an order (`key`: columns, all descending, the last one unique, e.g.
 * created_ms then id) and a filter given as one or more *groups* of equality
 * conditions. Each group must be served by an index made of its columns followed by
 * the key, so that its walk reads exactly the entries it returns (tests check the
 * plans). One group is one walk. Several groups (a filter no single index serves, e.g.
 * tasks of one model in any status) are walked side by side, each for no more than the
 * page needs, reading only index entries, and merged in key order; then the page's rows
 * are fetched by their unique column. That costs O(groups × page), and the callers keep
 * the number of groups small (one per status or per model).
 *
 * Page numbers: the walks start at the top and step over `offset` entries in the index
 * only (callers bound offset by PAGE_DEPTH).
 *
 * Callers run a listing inside one read transaction, so its walks, fetch and counts see
 * one snapshot.
 */
import type Database from "better-sqlite3";

/** The values of a row's key columns, in order. */
export type Key = Array<string | number>;

/** Equality conditions: a row is in the group when every column has its value. */
export type Group = ReadonlyArray<readonly [column: string, value: string | number]>;

export interface KeysetListing {
  table: string;
  /** The order, every column descending; the last one is unique and fetches merged rows. */
  key: readonly string[];
  /** What a row reads. Raw rows are arrays of these columns followed by the key's. */
  columns: string;
  /** Rows as arrays (better-sqlite3's raw mode: no object per row) rather than objects. */
  raw: boolean;
}

export type KeysetStart = { offset: number } | { after: Key };

export interface KeysetPage {
  rows: unknown[];
  /** The key of the page's last row when more rows follow it; null at the end. */
  next: Key | null;
}

/**
 * Key order, descending. Numbers compare as numbers; strings by UTF-16 code unit, which
 * is SQLite's byte order (BINARY) for the ASCII ids every listing's keys hold.
 */
function compareDesc(a: Key, b: Key): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? 1 : -1;
  }
  return 0;
}

export class Keyset {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly order: string;
  private readonly keyColumns: string;

  constructor(
    private readonly db: { prepare(sql: string): Database.Statement },
    private readonly listing: KeysetListing,
  ) {
    this.order = listing.key.map((c) => `${c} DESC`).join(", ");
    this.keyColumns = listing.key.join(", ");
  }

  /** One page of the rows in any of `groups` (none: an empty page), in key order. */
  page(groups: readonly Group[], pageSize: number, start: KeysetStart): KeysetPage {
    if (groups.length === 0) return { rows: [], next: null };
    if (groups.length === 1) return this.walk(groups[0]!, pageSize, start);
    return this.merge(groups, pageSize, start);
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

  /** One group: a walk of its index from the start (or the position `offset` entries down). */
  private walk(g: Group, pageSize: number, start: KeysetStart): KeysetPage {
    let after: Key | null = "after" in start ? start.after : null;
    if ("offset" in start && start.offset > 0) {
      const skip = `SELECT ${this.keyColumns} FROM ${this.listing.table} ${this.where(g, false)}
        ORDER BY ${this.order} LIMIT 1 OFFSET ?`;
      const found = this.statement(skip, "raw").get(...values(g), start.offset - 1);
      if (found === undefined) return { rows: [], next: null };
      after = found as Key;
    }
    const sql = `SELECT ${this.selectList()} FROM ${this.listing.table} ${this.where(g, after !== null)}
      ORDER BY ${this.order} LIMIT ?`;
    const rows = this.statement(sql, this.listing.raw ? "raw" : "rows").all(
      ...values(g),
      ...(after ?? []),
      pageSize + 1,
    );
    if (rows.length <= pageSize) return { rows, next: null };
    const page = rows.slice(0, pageSize);
    return { rows: page, next: this.keyOf(page[page.length - 1]) };
  }

  /** Several groups: index-only walks merged in key order, then the page's rows by id. */
  private merge(groups: readonly Group[], pageSize: number, start: KeysetStart): KeysetPage {
    const after = "after" in start ? start.after : null;
    const offset = "offset" in start ? start.offset : 0;
    const need = offset + pageSize + 1;
    const walks = groups.map((g) => {
      const sql = `SELECT ${this.keyColumns} FROM ${this.listing.table} ${this.where(g, after !== null)}
        ORDER BY ${this.order} LIMIT ?`;
      return this.statement(sql, "raw").all(...values(g), ...(after ?? []), need) as Key[];
    });
    // k-way merge of sorted lists: k is small, so a linear pick of the head beats a heap.
    const at = walks.map(() => 0);
    const keys: Key[] = [];
    while (keys.length < need) {
      let best = -1;
      for (let i = 0; i < walks.length; i++) {
        const head = walks[i]![at[i]!];
        if (head && (best < 0 || compareDesc(head, walks[best]![at[best]!]!) < 0)) best = i;
      }
      if (best < 0) break;
      keys.push(walks[best]![at[best]!++]!);
    }
    const pageKeys = keys.slice(offset, offset + pageSize);
    if (pageKeys.length === 0) return { rows: [], next: null };
    const unique = this.listing.key[this.listing.key.length - 1]!;
    const fetch = `SELECT ${this.selectList()} FROM ${this.listing.table}
      WHERE ${unique} IN (SELECT value FROM json_each(?))`;
    const fetched = this.statement(fetch, this.listing.raw ? "raw" : "rows").all(
      JSON.stringify(pageKeys.map((k) => k[k.length - 1])),
    );
    const byUnique = new Map(fetched.map((r) => [this.keyOf(r).at(-1), r]));
    // Same snapshot as the walks: every key finds its row.
    const rows = pageKeys.map((k) => byUnique.get(k[k.length - 1])).filter((r) => r !== undefined);
    const more = keys.length > offset + pageSize;
    return { rows, next: more ? pageKeys[pageKeys.length - 1]! : null };
  }

  /** The group's conditions, and `after` a position when the walk continues from one. */
  private where(g: Group, after: boolean): string {
    const conds = g.map(([c]) => `${c} = ?`);
    if (after) conds.push(`(${this.keyColumns}) < (${this.listing.key.map(() => "?").join(", ")})`);
    return conds.length ? `WHERE ${conds.join(" AND ")}` : "";
  }

  private selectList(): string {
    return this.listing.raw ? `${this.listing.columns}, ${this.keyColumns}` : this.listing.columns;
  }

  private keyOf(row: unknown): Key {
    if (this.listing.raw) return (row as unknown[]).slice(-this.listing.key.length) as Key;
    const r = row as Record<string, string | number>;
    return this.listing.key.map((c) => r[c]!);
  }

  /** Prepared once per shape of query (a handful per listing). */
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
