/**
 * The webhook outbox seam: what the dispatcher and the admin API need from the store.
 * Kept apart from `Store` (the task hot path) like `AdminStore`; each backend
 * implements it (SQLite: store/sqlite/outbox.ts).
 *
 * Glossary: a *delivery* is one outbox row, written by the finisher in the same
 * transaction as a task's terminal move; an *attempt* is one POST of it. A dispatcher
 * *claims* due deliveries with a lease so two processes never send the same one at
 * once; every write after the claim names `(id, leaseToken)` and is refused once the
 * lease has been taken over (delivery is at-least-once, `webhook-id` lets a receiver
 * drop duplicates).
 */
import type { ListPage, ListQuery, RowPosition } from "../core/paging.js";

export type DeliveryStatus = "pending" | "delivered" | "failed";

/** Why an attempt did not succeed (null on a 2xx). */
export type AttemptErrorKind =
  | "http_status" // an answer outside 2xx (3xx included: redirects are not followed)
  | "timeout" // no answer within the per-attempt timeout
  | "network" // refused, reset, TLS or DNS failure
  | "blocked" // the address is not allowed (checked on the IP actually connected to)
  | "invalid" // the stored URL or task can no longer be sent
  | "internal";

export interface AttemptRecord {
  outboxId: string;
  attempt: number;
  statusCode: number | null;
  latencyMs: number;
  errorKind: AttemptErrorKind | null;
  errorMessage: string | null;
  createdAt: number;
}

export interface DeliveryRecord {
  id: string;
  taskId: string;
  accountId: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  createdAt: number;
  updatedAt: number | null;
  attemptList: AttemptRecord[];
}

export interface ClaimedDelivery {
  id: string;
  taskId: string;
  accountId: string;
  url: string;
  leaseToken: string;
  /** The number this attempt will carry (1-based, grows across manual re-queues). */
  attempt: number;
  /** Its place in the current retry schedule (1 = first try). */
  scheduleAttempt: number;
  /** The account's current `whsec_…` secret. */
  secret: string;
}

/** What the dispatcher decided after an attempt. */
export type AttemptVerdict =
  { status: "delivered" } | { status: "pending"; nextAttemptMs: number } | { status: "failed" };

export interface AttemptResultInput {
  id: string;
  leaseToken: string;
  attempt: number;
  statusCode: number | null;
  latencyMs: number;
  errorKind: AttemptErrorKind | null;
  errorMessage: string | null;
  verdict: AttemptVerdict;
  nowMs: number;
}

export interface DeliveryFilter {
  accountId?: string;
  taskId?: string;
  status?: DeliveryStatus;
}

export interface WebhookStore {
  /** Leases up to `limit` due, unleased pending deliveries. */
  claimDue(limit: number, leaseMs: number, nowMs: number): Promise<ClaimedDelivery[]>;
  /** Records the attempt and moves the delivery, fenced by the lease; false = lease lost. */
  recordAttempt(input: AttemptResultInput): Promise<boolean>;
  /** Gives a claimed delivery back untouched (shutdown mid-send), so another process may take it now. */
  releaseLease(id: string, leaseToken: string): Promise<void>;
  /** When the earliest pending delivery falls due (null = none pending). */
  nextDueMs(): Promise<number | null>;

  /** Deliveries, newest first (paged and counted as AdminStore.listAccounts). */
  listDeliveries(
    filter: DeliveryFilter,
    q: ListQuery<RowPosition>,
  ): Promise<ListPage<DeliveryRecord, RowPosition>>;
  getDelivery(id: string): Promise<DeliveryRecord | null>;
  /** A failed delivery goes back to pending with a fresh schedule, due now. */
  requeueDelivery(id: string, nowMs: number): Promise<"requeued" | "not_found" | "not_failed">;
}
