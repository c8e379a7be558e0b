/**
 * The webhook outbox on PostgreSQL: claiming due deliveries with a lease, recording each
 * attempt, and the operator's listing and re-queue.
 *
 * Many dispatcher processes may share the database. A claim picks due rows with
 * `FOR UPDATE SKIP LOCKED`: a row another claim is leasing right now is passed over, not
 * waited for, and a row whose lease a claim that committed first has just taken is
 * re-checked against the newest version and dropped, so no two claims lease one row.
 * Every write after the claim names `(id, lease_token)`, so a dispatcher whose lease
 * lapsed and was taken over writes nothing (the SQLite outbox's fencing, the same).
 * Each write is one statement: its own transaction, one round trip.
 */
import { randomBytes } from "node:crypto";
import type { ListPage, ListQuery, RowPosition } from "../../core/paging.js";
import {
  attemptFromRow,
  deliveryFromRow,
  type AttemptRow,
  type OutboxRow,
} from "../outbox-rows.js";
import type {
  AttemptRecord,
  AttemptResultInput,
  ClaimedDelivery,
  DeliveryFilter,
  DeliveryRecord,
  WebhookStore,
} from "../webhooks.js";
import type { PgDatabase, Row } from "./database.js";
import { listDeliveriesPage } from "./operator-listings.js";

/**
 * The claim: due, unleased pending rows in due order over the partial index
 * webhook_outbox_due, locked and leased in one statement, each with its account's
 * current secret. It leaves `status = 'pending'`: a dispatcher that dies mid-send lets
 * its lease lapse and the row is claimable again (at-least-once).
 */
const CLAIM_DUE_SQL = `
  WITH claimed AS (
    UPDATE webhook_outbox SET lease_token = $1, lease_expires_ms = $2, updated_ms = $3
    WHERE id IN (
      SELECT id FROM webhook_outbox
      WHERE status = 'pending' AND next_attempt_ms <= $3
        AND (lease_expires_ms IS NULL OR lease_expires_ms < $3)
      ORDER BY next_attempt_ms LIMIT $4
      FOR UPDATE SKIP LOCKED)
    RETURNING id, task_id, account_id, url, attempts, attempt_base, next_attempt_ms)
  SELECT c.id, c.task_id, c.account_id, c.url, c.attempts, c.attempt_base, a.webhook_secret
  FROM claimed c LEFT JOIN accounts a ON a.id = c.account_id
  ORDER BY c.next_attempt_ms, c.id`;

/**
 * When the earliest pending delivery falls due: its next attempt, or its lease's end
 * when a lease holds it longer (as SQLite's MIN over every pending row). Read as two
 * bounded walks of webhook_outbox_due instead of one over every pending row: `first`
 * is the earliest pending row no live lease holds; any row due earlier is leased (a
 * delivery in flight, or one whose dispatcher died), and is due when its lease ends.
 * Rows after `first` in the index fall due no earlier than it. So each walk reads the
 * rows in flight and stops: O(deliveries in flight), however many are pending.
 */
const NEXT_DUE_SQL = `
  WITH first AS (
    SELECT next_attempt_ms AS due FROM webhook_outbox
    WHERE status = 'pending' AND (lease_expires_ms IS NULL OR lease_expires_ms < next_attempt_ms)
    ORDER BY next_attempt_ms LIMIT 1)
  SELECT LEAST(
    (SELECT due FROM first),
    (SELECT MIN(lease_expires_ms) FROM webhook_outbox
     WHERE status = 'pending'
       AND next_attempt_ms < COALESCE((SELECT due FROM first), 9223372036854775807)
       AND lease_expires_ms >= next_attempt_ms)) AS due`;

/** The attempt is recorded only if the move it belongs to happened (the lease held). */
const RECORD_ATTEMPT_SQL = `
  WITH moved AS (
    UPDATE webhook_outbox SET status = $3, attempts = $4, next_attempt_ms = $5,
      last_status_code = $6, last_error = $7, delivered_ms = $8,
      lease_token = NULL, lease_expires_ms = NULL, updated_ms = $9
    WHERE id = $1 AND lease_token = $2 AND status = 'pending'
    RETURNING id)
  INSERT INTO webhook_attempts
    (outbox_id, attempt, status_code, latency_ms, error_kind, error_message, created_ms)
  SELECT id, $4, $6, $10::bigint, $11::text, $7, $9 FROM moved
  RETURNING 1`;

/** The dispatcher's hot statements, for plan tests. */
export const OUTBOX_SQL = { claimDue: CLAIM_DUE_SQL, nextDue: NEXT_DUE_SQL } as const;

interface ClaimedRow {
  id: string;
  task_id: string;
  account_id: string;
  url: string;
  attempts: number;
  attempt_base: number;
  webhook_secret: string | null;
}

type R<T> = T & Row;

export class PgOutbox implements WebhookStore {
  constructor(private readonly db: PgDatabase) {}

  async claimDue(limit: number, leaseMs: number, nowMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const token = randomBytes(12).toString("base64url");
    const rows = await this.db.query<R<ClaimedRow>>(CLAIM_DUE_SQL, [
      token,
      nowMs + leaseMs,
      nowMs,
      limit,
    ]);
    return rows.map((r) => ({
      id: r.id,
      taskId: r.task_id,
      accountId: r.account_id,
      url: r.url,
      leaseToken: token,
      attempt: Number(r.attempts) + 1,
      scheduleAttempt: Number(r.attempts) - Number(r.attempt_base) + 1,
      secret: r.webhook_secret ?? "",
    }));
  }

  /** False when the lease was lost: another dispatcher owns the row and records its own attempt. */
  async recordAttempt(i: AttemptResultInput): Promise<boolean> {
    const v = i.verdict;
    const rows = await this.db.query(RECORD_ATTEMPT_SQL, [
      i.id,
      i.leaseToken,
      v.status,
      i.attempt,
      v.status === "pending" ? v.nextAttemptMs : i.nowMs,
      i.statusCode,
      i.errorMessage,
      v.status === "delivered" ? i.nowMs : null,
      i.nowMs,
      Math.max(0, Math.round(i.latencyMs)),
      i.errorKind,
    ]);
    return rows.length === 1;
  }

  async releaseLease(id: string, leaseToken: string): Promise<void> {
    await this.db.query(
      `UPDATE webhook_outbox SET lease_token = NULL, lease_expires_ms = NULL
       WHERE id = $1 AND lease_token = $2`,
      [id, leaseToken],
    );
  }

  async nextDueMs(): Promise<number | null> {
    const [r] = await this.db.query<{ due: number | null }>(NEXT_DUE_SQL);
    return r?.due ?? null;
  }

  private async attemptsOf(ids: string[]): Promise<Map<string, AttemptRecord[]>> {
    const out = new Map<string, AttemptRecord[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await this.db.query<R<AttemptRow>>(
      `SELECT * FROM webhook_attempts WHERE outbox_id = ANY($1::text[]) ORDER BY outbox_id, attempt`,
      [ids],
    );
    for (const r of rows) out.get(r.outbox_id)?.push(attemptFromRow(r));
    return out;
  }

  async listDeliveries(
    filter: DeliveryFilter,
    q: ListQuery<RowPosition>,
  ): Promise<ListPage<DeliveryRecord, RowPosition>> {
    const page = await listDeliveriesPage(this.db, filter, q);
    const attempts = await this.attemptsOf(page.data.map((r) => r.id));
    return { ...page, data: page.data.map((r) => deliveryFromRow(r, attempts.get(r.id) ?? [])) };
  }

  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    const [r] = await this.db.query<R<OutboxRow>>(`SELECT * FROM webhook_outbox WHERE id = $1`, [
      id,
    ]);
    if (!r) return null;
    return deliveryFromRow(r, (await this.attemptsOf([id])).get(id) ?? []);
  }

  async requeueDelivery(
    id: string,
    nowMs: number,
  ): Promise<"requeued" | "not_found" | "not_failed"> {
    const moved = await this.db.query(
      `UPDATE webhook_outbox SET status = 'pending', attempt_base = attempts, next_attempt_ms = $2,
         lease_token = NULL, lease_expires_ms = NULL, updated_ms = $2
       WHERE id = $1 AND status = 'failed'
       RETURNING 1`,
      [id, nowMs],
    );
    if (moved.length === 1) return "requeued";
    const known = await this.db.query(`SELECT 1 FROM webhook_outbox WHERE id = $1`, [id]);
    return known.length === 1 ? "not_failed" : "not_found";
  }
}
