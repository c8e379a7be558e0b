/**
 * Row ↔ record mapping for the webhook outbox and its attempts, shared by the SQL
 * backends (their column names and encodings match; see rows.ts).
 */
import type {
  AttemptErrorKind,
  AttemptRecord,
  DeliveryRecord,
  DeliveryStatus,
} from "./webhooks.js";

export interface OutboxRow {
  id: string;
  task_id: string;
  account_id: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  attempt_base: number;
  next_attempt_ms: number;
  last_status_code: number | null;
  last_error: string | null;
  delivered_ms: number | null;
  created_ms: number;
  updated_ms: number | null;
}

export interface AttemptRow {
  outbox_id: string;
  attempt: number;
  status_code: number | null;
  latency_ms: number;
  error_kind: string | null;
  error_message: string | null;
  created_ms: number;
}

export const attemptFromRow = (r: AttemptRow): AttemptRecord => ({
  outboxId: r.outbox_id,
  attempt: Number(r.attempt),
  statusCode: r.status_code === null ? null : Number(r.status_code),
  latencyMs: Number(r.latency_ms),
  errorKind: r.error_kind as AttemptErrorKind | null,
  errorMessage: r.error_message,
  createdAt: Number(r.created_ms),
});

export const deliveryFromRow = (r: OutboxRow, attempts: AttemptRecord[]): DeliveryRecord => ({
  id: r.id,
  taskId: r.task_id,
  accountId: r.account_id,
  url: r.url,
  status: r.status,
  attempts: Number(r.attempts),
  nextAttemptAt: Number(r.next_attempt_ms),
  lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
  lastError: r.last_error,
  deliveredAt: r.delivered_ms === null ? null : Number(r.delivered_ms),
  createdAt: Number(r.created_ms),
  updatedAt: r.updated_ms === null ? null : Number(r.updated_ms),
  attemptList: attempts,
});
