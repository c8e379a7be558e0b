/**
 * `listTasks` on SQLite: a page of an account's tasks, newest first, in O(page) at any
 * depth, with an exact total that reads no task.
 *
 * The total sums `task_counts` (kept by triggers, migration 004), whose rows for the
 * account also say which (status, model) groups hold tasks. The page is a keyset walk
 * (keyset.ts) of the index that serves the filter (taskGroups in store/keyset-plan.ts):
 *
 *   filter          index walked                         walks
 *   none            tasks_account_list                   1
 *   status + model  tasks_account_status_model           1
 *   model           tasks_account_status_model           1 per status holding the model's tasks (≤ 4)
 *   status          tasks_account_status_model           1 per model with tasks in that status
 *
 * The last row's width is the number of models the account has used, which the
 * operator's catalogue bounds (a client cannot create tasks of an unknown model).
 *
 * Everything is read in one read transaction on the process's connection: the counts,
 * the walks and the rows agree with each other, and no write waits for it (WAL).
 */
import type Database from "better-sqlite3";
import type { TaskListQuery, TaskPage } from "../store.js";
import type { SqliteConnection } from "./connection.js";
import { Keyset } from "./keyset.js";
import {
  keysetStart,
  matchingCounts,
  TASK_COUNTS_SQL,
  TASK_LISTING,
  taskGroups,
  taskPosition,
  type CountRow,
  type KeysetStart,
} from "../keyset-plan.js";
import { viewFromRaw } from "../rows.js";

export class SqliteTaskList {
  private readonly keyset: Keyset;
  private readonly counts: Database.Statement;
  private readonly read: Database.Transaction<
    (accountId: string, q: TaskListQuery, start: KeysetStart) => TaskPage
  >;

  constructor(conn: SqliteConnection) {
    this.keyset = new Keyset(conn, TASK_LISTING);
    this.counts = conn.prepare(TASK_COUNTS_SQL);
    // A transaction that only reads: it takes no lock a writer waits for, so it need not
    // take a turn with the writer thread as writes do (connection.ts).
    this.read = conn.transaction((accountId: string, q: TaskListQuery, start: KeysetStart) =>
      this.page(accountId, q, start),
    );
  }

  list(accountId: string, q: TaskListQuery): TaskPage {
    // Refused before anything is read: a page number deeper than PAGE_DEPTH throws.
    const start = keysetStart(q, (p) => [p.createdMs, p.id]);
    return this.read.deferred(accountId, q, start);
  }

  private page(accountId: string, q: TaskListQuery, start: KeysetStart): TaskPage {
    const counts = matchingCounts(this.counts.all(accountId) as CountRow[], q);
    const total = counts.reduce((sum, c) => sum + Number(c.n), 0);
    const groups = taskGroups(accountId, counts, q);
    const { rows, next } = this.keyset.page(groups, q.pageSize, start);
    return {
      data: (rows as unknown[][]).map(viewFromRaw),
      total,
      next: next ? taskPosition(next) : null,
    };
  }
}
