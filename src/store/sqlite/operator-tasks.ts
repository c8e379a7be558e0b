/**
 * The operator's task reads on SQLite (store/operator-tasks.ts says what each costs).
 * They run on the process's connection, on the event loop, so each statement stays
 * page-sized: a listing page is one walk of at most limit + 1 rows, the stats read the
 * window's minutes MINUTES_PER_READ at a time and each model's duration sample on its
 * own, giving the loop back in between.
 */
import type Database from "better-sqlite3";
import type { TaskPosition } from "../../core/task-cursor.js";
import {
  matchingCounts,
  TASK_COUNTS_SQL,
  taskGroups,
  taskPosition,
  type CountRow,
} from "../keyset-plan.js";
import {
  DURATION_SAMPLE_PER_MODEL,
  DURATION_SAMPLE_SQL,
  durationFromRow,
  MINUTES_PER_READ,
  MINUTES_SQL,
  minuteFromRow,
  MODELS_SQL,
  OPERATOR_TASK_LISTING,
  operatorTaskFromRow,
  operatorTaskWalks,
  TRAIL_SQL,
  trailFromRow,
  withChannel,
  type DurationRow,
  type MinuteRow,
  type OperatorTaskFilter,
  type OperatorTaskPage,
  type OperatorTaskRecord,
  type OperatorTaskRow,
  type OperatorTaskStore,
  type TaskActivity,
  type TrailRow,
} from "../operator-tasks.js";
import type { TrailEntry } from "../store.js";
import type { SqliteConnection } from "./connection.js";
import { Keyset, sqliteOffIndex, type Group } from "./keyset.js";

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SqliteOperatorTasks implements OperatorTaskStore {
  private readonly keyset: Keyset;
  private readonly sql: Record<
    "counts" | "models" | "task" | "trail" | "minutes" | "durations",
    Database.Statement
  >;
  private readonly read: Database.Transaction<
    (f: OperatorTaskFilter, limit: number, after: TaskPosition | null) => OperatorTaskPage
  >;

  constructor(conn: SqliteConnection) {
    this.keyset = new Keyset(conn, OPERATOR_TASK_LISTING);
    this.sql = {
      counts: conn.prepare(TASK_COUNTS_SQL),
      models: conn.prepare(MODELS_SQL).pluck(),
      task: conn.prepare(`SELECT * FROM tasks WHERE id = ?`),
      trail: conn.prepare(TRAIL_SQL),
      minutes: conn.prepare(MINUTES_SQL),
      durations: conn.prepare(DURATION_SAMPLE_SQL),
    };
    // Reads only: no lock a writer waits for (as the account's listing, list.ts).
    this.read = conn.transaction(
      (f: OperatorTaskFilter, limit: number, after: TaskPosition | null) => {
        const { rows, next } = this.keyset.page(
          this.walks(f),
          limit,
          after ? { after: [after.createdMs, after.id] } : { offset: 0 },
        );
        return {
          data: (rows as OperatorTaskRow[]).map(operatorTaskFromRow),
          next: next ? taskPosition(next) : null,
        };
      },
    );
  }

  private walks(f: OperatorTaskFilter): Group[] {
    if (f.accountId === null)
      return operatorTaskWalks(f, this.sql.models.all() as string[], sqliteOffIndex);
    const counts = matchingCounts(this.sql.counts.all(f.accountId) as CountRow[], f);
    return withChannel(taskGroups(f.accountId, counts, f), f.channelId, sqliteOffIndex);
  }

  async listAllTasks(
    f: OperatorTaskFilter,
    limit: number,
    after: TaskPosition | null,
  ): Promise<OperatorTaskPage> {
    return this.read.deferred(f, limit, after);
  }

  async taskWithTrail(
    taskId: string,
  ): Promise<{ task: OperatorTaskRecord; trail: TrailEntry[] } | null> {
    const row = this.sql.task.get(taskId) as OperatorTaskRow | undefined;
    if (!row) return null;
    const trail = (this.sql.trail.all(taskId) as TrailRow[]).map(trailFromRow);
    return { task: operatorTaskFromRow(row), trail };
  }

  async taskActivity(sinceMs: number, untilMs: number): Promise<TaskActivity> {
    const activity: TaskActivity = { minutes: [], durations: [] };
    const end = Math.floor(untilMs / 60_000) * 60 + 60;
    for (let from = Math.floor(sinceMs / 60_000) * 60; from < end;) {
      const to = Math.min(end, from + MINUTES_PER_READ * 60);
      for (const r of this.sql.minutes.all(from, to) as MinuteRow[])
        activity.minutes.push(minuteFromRow(r));
      from = to;
      if (from < end) await nextTurn();
    }
    for (const model of this.sql.models.all() as string[]) {
      await nextTurn();
      const rows = this.sql.durations.all(
        model,
        sinceMs,
        DURATION_SAMPLE_PER_MODEL,
      ) as DurationRow[];
      for (const r of rows) activity.durations.push(durationFromRow(r));
    }
    return activity;
  }
}
