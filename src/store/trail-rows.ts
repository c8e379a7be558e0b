/**
 * A claim's trail as rows of task_attempts (migration 010), the same on every backend.
 * `seq` orders entries of one instant and makes a write that runs twice (a batch
 * rerun) harmless: the insert ignores rows it already holds.
 */
import type { TrailEntry } from "./store.js";

export const TRAIL_COLUMNS = "task_id, at_ms, seq, kind, ended_ms, channel_id, outcome, error_code";

export type TrailValues = [
  taskId: string,
  atMs: number,
  seq: number,
  kind: string,
  endedMs: number | null,
  channelId: string | null,
  outcome: string | null,
  errorCode: string | null,
];

export function trailValues(taskId: string, trail: readonly TrailEntry[]): TrailValues[] {
  return trail.map((e, seq) => [
    taskId,
    Math.round(e.atMs),
    seq,
    e.kind,
    e.endedMs === undefined || e.endedMs === null ? null : Math.round(e.endedMs),
    e.channelId ?? null,
    e.outcome ?? null,
    e.errorCode ?? null,
  ]);
}
