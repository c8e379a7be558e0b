/**
 * The operator's view of tasks (the console, `/admin/v1/tasks` and `/admin/v1/stats`),
 * whatever the backend: every account's tasks newest first, one task with its trail
 * (claims, upstream attempts, hand-backs), and the recent activity per minute.
 *
 * Costs, at any number of tasks:
 * - A page is one keyset walk (keyset-plan.ts) of an index that serves the filter
 *   (migration 010 / PostgreSQL step 004 add the ones an account-less listing needs):
 *
 *     filter             index walked                     walks
 *     none               tasks_created_list               1
 *     status + model     tasks_status_model_list          1
 *     status             tasks_status_model_list          1 per model ever queued (model_queue)
 *     model              tasks_status_model_list          4 (one per status)
 *     channel (+ s, m)   tasks_channel_list               1; status and model checked per row
 *     account (+ s, m)   the account's indexes (listTasks) as many as listTasks takes;
 *                                                          a channel checked per row
 *
 *   A channel combined with another filter reads the channel's tasks newest first until
 *   the page is full: cheap when they match often (a busy channel's recent failures),
 *   proportional to the tasks skipped when they rarely do.
 * - The trail is the task's rows of task_attempts (a handful, its primary key).
 * - Stats read task_minutes, a rollup the database keeps by trigger in the same
 *   transaction as every submission and every terminal move (so no write path can
 *   forget it and no commit is added): O(window minutes), never the tasks. Durations
 *   are the newest completions of each model in the window, at most
 *   DURATION_SAMPLE_PER_MODEL each, from the tasks_finished index: a bounded sample.
 */
import type { TaskPosition } from "../core/task-cursor.js";
import type { TaskStatus } from "../core/types.js";
import type { Group } from "./keyset-plan.js";
import type { KeysetListing } from "./keyset-plan.js";
import type { OffIndex } from "./operator-listings.js";
import { taskFromRow, type TaskRow } from "./rows.js";
import type { TaskRecord, TrailEntry } from "./store.js";

export interface OperatorTaskFilter {
  status: TaskStatus | null;
  model: string | null;
  accountId: string | null;
  channelId: string | null;
}

/** A task as the operator sees it: the whole record plus the times the public view rounds. */
export interface OperatorTaskRecord extends TaskRecord {
  n: number;
  finishedMs: number | null;
}

export interface OperatorTaskPage {
  data: OperatorTaskRecord[];
  /** The position to continue after; null when this page is the last. */
  next: TaskPosition | null;
}

/** Counts of one minute (`minute`: unix seconds of its start). */
export interface MinuteCounts {
  minute: number;
  submitted: number;
  completed: number;
  failed: number;
  creditsUsedMicros: number;
}

/** One completed task of the duration sample. */
export interface DurationSample {
  model: string;
  channelId: string | null;
  durationMs: number;
}

export interface TaskActivity {
  /** Only minutes with activity, oldest first. */
  minutes: MinuteCounts[];
  durations: DurationSample[];
}

/** The newest completions per model the duration percentiles are taken from. */
export const DURATION_SAMPLE_PER_MODEL = 100;

export interface OperatorTaskStore {
  /** Every account's tasks, newest first (created time, then id), `limit` per page. */
  listAllTasks(
    filter: OperatorTaskFilter,
    limit: number,
    after: TaskPosition | null,
  ): Promise<OperatorTaskPage>;
  /** One task, any account, with its trail in time order; null when there is none. */
  taskWithTrail(taskId: string): Promise<{ task: OperatorTaskRecord; trail: TrailEntry[] } | null>;
  /** Activity from `sinceMs` to `untilMs` (see TaskActivity). */
  taskActivity(sinceMs: number, untilMs: number): Promise<TaskActivity>;
}

export const OPERATOR_TASK_LISTING: KeysetListing = {
  table: "tasks",
  key: ["created_ms", "id"],
  columns: "*",
  raw: false,
};

const STATUSES: TaskStatus[] = ["pending", "processing", "completed", "failed"];

/**
 * The walks of an account-less filter (the table above). `models`: every model ever
 * queued (model_queue), for a status alone.
 */
export function operatorTaskWalks(
  f: OperatorTaskFilter,
  models: readonly string[],
  offIndex: OffIndex,
): Group[] {
  if (f.channelId !== null) {
    return [
      [
        ["channel_id", f.channelId],
        ...(f.status !== null ? [[offIndex("status"), f.status] as const] : []),
        ...(f.model !== null ? [[offIndex("model"), f.model] as const] : []),
      ],
    ];
  }
  if (f.status !== null && f.model !== null)
    return [
      [
        ["status", f.status],
        ["model", f.model],
      ],
    ];
  if (f.status !== null)
    return models.map((m) => [
      ["status", f.status!],
      ["model", m],
    ]);
  if (f.model !== null)
    return STATUSES.map((s) => [
      ["status", s],
      ["model", f.model!],
    ]);
  return [[]];
}

/** An account's walks (taskGroups) with the channel, if any, checked per row. */
export function withChannel(
  groups: Group[],
  channelId: string | null,
  offIndex: OffIndex,
): Group[] {
  if (channelId === null) return groups;
  return groups.map((g) => [...g, [offIndex("channel_id"), channelId] as const]);
}

export interface OperatorTaskRow extends TaskRow {
  n: number;
}

export function operatorTaskFromRow(r: OperatorTaskRow): OperatorTaskRecord {
  return {
    ...taskFromRow(r),
    n: Number(r.n),
    finishedMs: r.finished_ms === null ? null : Number(r.finished_ms),
  };
}

export interface TrailRow {
  kind: TrailEntry["kind"];
  at_ms: number;
  ended_ms: number | null;
  channel_id: string | null;
  outcome: string | null;
  error_code: string | null;
}

export const TRAIL_SQL = `SELECT kind, at_ms, ended_ms, channel_id, outcome, error_code
  FROM task_attempts WHERE task_id = ? ORDER BY at_ms, seq`;

export function trailFromRow(r: TrailRow): TrailEntry {
  return {
    kind: r.kind,
    atMs: Number(r.at_ms),
    endedMs: r.ended_ms === null ? null : Number(r.ended_ms),
    channelId: r.channel_id,
    outcome: r.outcome,
    errorCode: r.error_code,
  };
}

/**
 * The minutes of a window, summed over their writers (PostgreSQL keeps a row per
 * minute and connection, SQLite one per minute: see migration 010). Params: from, to
 * (unix seconds, from inclusive, to exclusive).
 */
export const MINUTES_SQL = `SELECT minute_s, SUM(submitted) AS submitted, SUM(completed) AS completed,
    SUM(failed) AS failed, SUM(credits_used_micros) AS credits
  FROM task_minutes WHERE minute_s >= ? AND minute_s < ? GROUP BY minute_s ORDER BY minute_s`;

export interface MinuteRow {
  minute_s: number;
  submitted: number;
  completed: number;
  failed: number;
  credits: number;
}

export const minuteFromRow = (r: MinuteRow): MinuteCounts => ({
  minute: Number(r.minute_s),
  submitted: Number(r.submitted),
  completed: Number(r.completed),
  failed: Number(r.failed),
  creditsUsedMicros: Number(r.credits),
});

/** A model's newest completions since a time: one bounded walk of tasks_finished. Params: model, since, limit. */
export const DURATION_SAMPLE_SQL = `SELECT model, channel_id, finished_ms - created_ms AS duration_ms
  FROM tasks WHERE status = 'completed' AND model = ? AND finished_ms >= ?
  ORDER BY finished_ms DESC LIMIT ?`;

export interface DurationRow {
  model: string;
  channel_id: string | null;
  duration_ms: number;
}

export const durationFromRow = (r: DurationRow): DurationSample => ({
  model: r.model,
  channelId: r.channel_id,
  durationMs: Number(r.duration_ms),
});

/** Every model ever queued: model_queue keeps a row per model (migration 008). */
export const MODELS_SQL = `SELECT model FROM model_queue ORDER BY model`;

/** A window's minutes are read this many at a time (each read stays page-sized). */
export const MINUTES_PER_READ = 100;
