/**
 * Keyset pages, whatever the backend: every listing (tasks, accounts, ledger,
 * deliveries) reads a page as a bounded walk of an index, whatever its depth, instead
 * of `OFFSET` over the rows, which steps over every row before the page, and
 * `COUNT(*)`, which reads every row that matches. This file plans the walks and writes
 * their SQL; each backend runs them (store/sqlite/keyset.ts, store/postgres/keyset.ts).
 *
 * A listing has an order (`key`: columns, all descending, the last one unique, e.g.
 * created_ms then id) and a filter given as one or more *groups* of equality
 * conditions. Each group must be served by an index made of its columns followed by
 * the key, so that its walk reads the entries it returns and no other (tests check the
 * plans). One group is one walk. Several groups (a filter no single index serves, e.g.
 * tasks of one model in any status) are one `UNION ALL` of their walks under the
 * listing's ORDER BY, which both SQLite and PostgreSQL (Merge Append) run as a
 * streaming merge of index walks: each walk is read only as far as the merge takes
 * rows from it, so a page costs O(page + groups).
 *
 * Page numbers: the same walk with only the key columns, from the top, stepping over
 * `offset` rows inside the index (no row of the table is read), finds the position
 * before the page; the page is then read after that position like a cursor's. Callers
 * bound `offset` (PAGE_DEPTH).
 *
 * The SQL is written with `?` placeholders, in order; PostgreSQL numbers them.
 */
import { pageOffset, type ListPage, type ListQuery } from "../core/paging.js";
import type { TaskPosition } from "../core/task-cursor.js";
import type { TaskListQuery } from "./store.js";
import { TASK_VIEW_COLUMNS } from "./rows.js";

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
  /** Rows as arrays of `columns` (no object per row), where the backend can. */
  raw: boolean;
}

export type KeysetStart = { offset: number } | { after: Key };

export interface KeysetPage {
  rows: unknown[];
  /** The key of the page's last row when more rows follow it; null at the end. */
  next: Key | null;
}

/** The SQL of one listing's walks (`?` placeholders), and how to read their rows. */
export class KeysetSql {
  /** The key columns under names of their own, after the row's columns. */
  private readonly keySelect: string;
  private readonly order: string;

  constructor(readonly listing: KeysetListing) {
    this.keySelect = listing.key.map((c, i) => `${c} AS key_${i}`).join(", ");
    this.order = listing.key.map((_, i) => `key_${i} DESC`).join(", ");
  }

  /** The key of the row `offset` rows down (params: each group's values, then offset; limit 1). */
  skipSql(groups: readonly Group[]): string {
    return `${this.walks(groups, this.keySelect, false)} LIMIT 1 OFFSET ?`;
  }

  /** A page's rows (params: per group its values and the position if `after`; then the limit). */
  readSql(groups: readonly Group[], after: boolean): string {
    return `${this.walks(groups, `${this.listing.columns}, ${this.keySelect}`, after)} LIMIT ?`;
  }

  /**
   * Each group's walk ordered and limited on its own, merged in key order, `tail` (a
   * LIMIT) ending the merge. Params: per group its values, the position if `after`,
   * and its limit; then the tail's. PostgreSQL merges walks in index order (Merge
   * Append) only in this shape: flattened UNION ALL arms are all read and sorted.
   */
  boundedWalksSql(
    groups: readonly Group[],
    keyOnly: boolean,
    after: boolean,
    tail: string,
  ): string {
    const select = keyOnly ? this.keySelect : `${this.listing.columns}, ${this.keySelect}`;
    const order = this.listing.key.map((c) => `${c} DESC`).join(", ");
    const arms = groups.map(
      (g) =>
        `(SELECT ${select} FROM ${this.listing.table} ${this.where(g, after)} ORDER BY ${order} LIMIT ?)`,
    );
    return `${arms.join(" UNION ALL ")} ORDER BY ${this.order} ${tail}`;
  }

  /** How many rows one group holds, up to a limit (params: its values, then the limit). */
  countSql(g: Group): string {
    return `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${this.listing.table} ${this.where(g, false)} LIMIT ?) AS capped`;
  }

  /** The parameters of readSql, without the limit. */
  readParams(groups: readonly Group[], after: Key | null): Array<string | number> {
    return groups.flatMap((g) => [...groupValues(g), ...(after ?? [])]);
  }

  /** The key of a row read by readSql: an array (raw) or an object with key_<i> fields. */
  keyOf(row: unknown, raw: boolean): Key {
    if (raw) return (row as unknown[]).slice(-this.listing.key.length) as Key;
    const r = row as Record<string, string | number>;
    return this.listing.key.map((_, i) => r[`key_${i}`]!);
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
}

export function groupValues(g: Group): Array<string | number> {
  return g.map(([, v]) => v);
}

/** A listing's start as the keysets take it; a page number deeper than PAGE_DEPTH throws. */
export function keysetStart<P>(
  q: ListQuery<P>,
  key: (p: P) => Array<string | number>,
): KeysetStart {
  return "page" in q.start
    ? { offset: pageOffset(q.start.page, q.pageSize) }
    : { after: key(q.start.after) };
}

/**
 * An operator's page from what was read: the rows, the position after them, and the
 * count made up to `cap + 1` (one more than the cap tells "exactly cap" from "more").
 */
export function operatorListPage<R, T, P>(
  page: KeysetPage,
  counted: number,
  cap: number,
  convert: { row: (r: R) => T; position: (r: R) => P },
): ListPage<T, P> {
  const last = page.rows[page.rows.length - 1] as R | undefined;
  return {
    data: (page.rows as R[]).map(convert.row),
    total: Math.min(counted, cap),
    totalCapped: counted > cap,
    next: page.next && last ? convert.position(last) : null,
  };
}

// ---- The task listing (listTasks), the same on every backend ----

export interface CountRow {
  model: string;
  status: string;
  n: number;
}

/** The account's non-empty (model, status) counts: at most models × 4 rows of the primary key. */
export const TASK_COUNTS_SQL = `SELECT model, status, n FROM task_counts WHERE account_id = ? AND n > 0`;

export const TASK_LISTING: KeysetListing = {
  table: "tasks",
  key: ["created_ms", "id"],
  columns: TASK_VIEW_COLUMNS,
  raw: true,
};

/**
 * The walks a task filter takes: one per (status, model) that holds matching tasks,
 * or one over the account when nothing is filtered:
 *
 *   filter          index walked                         walks
 *   none            tasks_account_list                   1
 *   status + model  tasks_account_status_model           1
 *   model           tasks_account_status_model           1 per status holding the model's tasks (≤ 4)
 *   status          tasks_account_status_model           1 per model with tasks in that status
 *
 * `counts` are the account's non-empty counts already filtered to the query.
 */
export function taskGroups(
  accountId: string,
  counts: readonly CountRow[],
  q: Pick<TaskListQuery, "status" | "model">,
): Group[] {
  if (counts.length === 0) return [];
  const account: Group[number] = ["account_id", accountId];
  if (q.status === null && q.model === null) return [[account]];
  return counts.map((c) => [account, ["status", c.status], ["model", c.model]]);
}

/** The counts that match the query's filters. */
export function matchingCounts(
  counts: readonly CountRow[],
  q: Pick<TaskListQuery, "status" | "model">,
): CountRow[] {
  return counts.filter(
    (c) =>
      (q.status === null || c.status === q.status) && (q.model === null || c.model === q.model),
  );
}

/** A task listing's key as the position a cursor carries. */
export function taskPosition(key: Key): TaskPosition {
  return { createdMs: Number(key[0]), id: String(key[1]) };
}
