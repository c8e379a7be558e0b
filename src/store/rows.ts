/** Row ↔ record mapping shared by the SQL backends (their column names and encodings match). */
import type { FailureCode, GenerationRequest, StoredImage, TaskStatus } from "../core/types.js";
import type { KeyPrincipal, TaskImages, TaskRecord, TaskView } from "./store.js";

/**
 * The columns a poll reads, in the order viewFromRaw destructures them. Polls read in
 * better-sqlite3's raw (array) mode: no object is built per row, which is a quarter of
 * the read's cost on the hottest path (BENCHMARKS.md).
 */
export const TASK_VIEW_COLUMNS =
  "id, model, status, progress, created_s, user_group, credits_reserved_micros, credits_used_micros, estimated_s, results, error_code, error_message, cancellable";

export function viewFromRaw(r: unknown[]): TaskView {
  const [
    id,
    model,
    status,
    progress,
    createdS,
    userGroup,
    reserved,
    used,
    estimatedS,
    results,
    errorCode,
    errorMessage,
    cancellable,
  ] = r as [
    string,
    string,
    string,
    number,
    number,
    string,
    number,
    number | null,
    number,
    string | null,
    string | null,
    string | null,
    number | null,
  ];
  return {
    id,
    model,
    status: status as TaskStatus,
    progress: Number(progress),
    createdAt: Number(createdS),
    userGroup,
    creditsReservedMicros: Number(reserved),
    creditsUsedMicros: used === null ? null : Number(used),
    estimatedSeconds: Number(estimatedS),
    results: results ? (JSON.parse(results) as StoredImage[]) : [],
    errorCode: (errorCode as FailureCode | null) ?? null,
    errorMessage,
    cancellable: Number(cancellable ?? 1) === 1,
  };
}

export interface TaskRow {
  id: string;
  account_id: string;
  api_key_id: string;
  model: string;
  status: string;
  progress: number;
  request: string;
  user_group: string;
  price_micros: number;
  multiplier_ppm: number;
  credits_reserved_micros: number;
  credits_used_micros: number | null;
  estimated_s: number;
  results: string | null;
  error_code: string | null;
  error_message: string | null;
  cancel_requested: number;
  attempts: number;
  channel_id: string | null;
  cancellable: number;
  created_s: number;
  created_ms: number;
  finished_ms: number | null;
}

export function taskFromRow(r: TaskRow): TaskRecord {
  return {
    // The poll's mapping, fed the same columns in TASK_VIEW_COLUMNS order.
    ...viewFromRaw([
      r.id,
      r.model,
      r.status,
      r.progress,
      r.created_s,
      r.user_group,
      r.credits_reserved_micros,
      r.credits_used_micros,
      r.estimated_s,
      r.results,
      r.error_code,
      r.error_message,
      r.cancellable,
    ]),
    createdMs: Number(r.created_ms),
    accountId: r.account_id,
    apiKeyId: r.api_key_id,
    finishedAt: r.finished_ms === null ? null : Math.floor(Number(r.finished_ms) / 1000),
    request: JSON.parse(r.request) as GenerationRequest,
    cancelRequested: Number(r.cancel_requested) === 1,
    attempts: Number(r.attempts),
    channelId: r.channel_id ?? null,
  };
}

export interface KeyRow {
  id: string;
  account_id: string;
  group_name: string;
  multiplier_ppm: number;
  allowed_models: string | null;
  credit_limit_micros: number | null;
  rpm_limit: number | null;
  max_concurrent: number | null;
  expires_s: number | null;
  revoked_ms: number | null;
  disabled_ms: number | null;
}

const numOrNull = (v: number | null): number | null => (v === null ? null : Number(v));

export function principalFromRow(r: KeyRow): KeyPrincipal {
  return {
    keyId: r.id,
    accountId: r.account_id,
    groupName: r.group_name,
    multiplierPpm: Number(r.multiplier_ppm),
    allowedModels: r.allowed_models ? (JSON.parse(r.allowed_models) as string[]) : null,
    creditLimitMicros: numOrNull(r.credit_limit_micros),
    rpmLimit: numOrNull(r.rpm_limit),
    maxConcurrent: numOrNull(r.max_concurrent),
    expiresAt: numOrNull(r.expires_s),
    revoked: r.revoked_ms !== null,
    accountDisabled: r.disabled_ms !== null,
  };
}

/** What retention needs of a task row (Store.imagesOfTasks). */
export function taskImagesFromRow(r: { status: string; results: string | null }): TaskImages {
  const images = r.results ? (JSON.parse(r.results) as StoredImage[]) : [];
  return {
    finished: r.status === "completed" || r.status === "failed",
    keys: images.map((img) => img.key),
  };
}

/**
 * Every task id created before `ms` sorts below this bound: an id begins with its
 * creation second (`task-unified-<second>-…`, core/ids.ts), and seconds have ten digits
 * until the year 2286. Retention finds the oldest tasks by walking the primary key.
 */
export function idsCreatedBefore(ms: number): string {
  return `task-unified-${Math.floor(ms / 1000)}`;
}

/** Retention keeps the activity rollup (task_minutes) a day longer than the tasks. */
export function minutesBefore(createdBeforeMs: number): number {
  return Math.floor((createdBeforeMs - 86_400_000) / 60_000) * 60;
}
