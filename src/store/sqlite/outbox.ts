/**
 * The webhook outbox on SQLite: claiming due deliveries with a lease and recording each
 * attempt (group-committed on the writer thread: outbox-writes.ts), and the operator's
 * listing and re-queue.
 */
import type { Statement } from "better-sqlite3";
import type { Page } from "../admin.js";
import type {
  AttemptErrorKind,
  AttemptRecord,
  AttemptResultInput,
  ClaimedDelivery,
  DeliveryFilter,
  DeliveryRecord,
  DeliveryStatus,
  WebhookStore,
} from "../webhooks.js";
import { whereEquals } from "./where.js";
import type { SqliteConnection } from "./connection.js";

interface OutboxRow {
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

interface AttemptRow {
  outbox_id: string;
  attempt: number;
  status_code: number | null;
  latency_ms: number;
  error_kind: string | null;
  error_message: string | null;
  created_ms: number;
}

const attemptFromRow = (r: AttemptRow): AttemptRecord => ({
  outboxId: r.outbox_id,
  attempt: Number(r.attempt),
  statusCode: r.status_code === null ? null : Number(r.status_code),
  latencyMs: Number(r.latency_ms),
  errorKind: r.error_kind as AttemptErrorKind | null,
  errorMessage: r.error_message,
  createdAt: Number(r.created_ms),
});

const deliveryFromRow = (r: OutboxRow, attempts: AttemptRecord[]): DeliveryRecord => ({
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

export class SqliteOutbox implements WebhookStore {
  private readonly sql: Record<"nextDue" | "get" | "requeue", Statement>;

  constructor(private readonly conn: SqliteConnection) {
    this.sql = {
      nextDue: conn.prepare(
        `SELECT MIN(CASE WHEN lease_expires_ms IS NULL OR lease_expires_ms < next_attempt_ms
                         THEN next_attempt_ms ELSE lease_expires_ms END) AS due
         FROM webhook_outbox WHERE status = 'pending'`,
      ),
      get: conn.prepare(`SELECT * FROM webhook_outbox WHERE id = ?`),
      requeue: conn.prepare(
        `UPDATE webhook_outbox SET status = 'pending', attempt_base = attempts, next_attempt_ms = @now,
           lease_token = NULL, lease_expires_ms = NULL, updated_ms = @now
         WHERE id = @id AND status = 'failed'`,
      ),
    };
  }

  async claimDue(limit: number, leaseMs: number, nowMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    return this.conn.enqueue({ kind: "claimDeliveries", limit, leaseMs, nowMs });
  }

  async recordAttempt(input: AttemptResultInput): Promise<boolean> {
    return this.conn.enqueue({ kind: "recordAttempt", input });
  }

  async releaseLease(id: string, leaseToken: string): Promise<void> {
    await this.conn.enqueue({ kind: "releaseDelivery", id, leaseToken });
  }

  async nextDueMs(): Promise<number | null> {
    const r = this.sql.nextDue.get() as { due: number | null } | undefined;
    return r?.due === null || r?.due === undefined ? null : Number(r.due);
  }

  private attemptsOf(ids: string[]): Map<string, AttemptRecord[]> {
    const out = new Map<string, AttemptRecord[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = this.conn
      .prepare(
        `SELECT * FROM webhook_attempts WHERE outbox_id IN (${ids.map(() => "?").join(",")})
         ORDER BY outbox_id, attempt`,
      )
      .all(...ids) as AttemptRow[];
    for (const r of rows) out.get(r.outbox_id)?.push(attemptFromRow(r));
    return out;
  }

  async listDeliveries(
    filter: DeliveryFilter,
    page: number,
    pageSize: number,
  ): Promise<Page<DeliveryRecord>> {
    const { sql: w, args } = whereEquals({
      account_id: filter.accountId,
      task_id: filter.taskId,
      status: filter.status,
    });
    const rows = this.conn
      .prepare(
        `SELECT * FROM webhook_outbox ${w} ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?`,
      )
      .all(...args, pageSize, (page - 1) * pageSize) as OutboxRow[];
    const { c } = this.conn
      .prepare(`SELECT COUNT(*) AS c FROM webhook_outbox ${w}`)
      .get(...args) as {
      c: number;
    };
    const attempts = this.attemptsOf(rows.map((r) => r.id));
    return {
      data: rows.map((r) => deliveryFromRow(r, attempts.get(r.id) ?? [])),
      total: Number(c),
    };
  }

  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    const r = this.sql.get.get(id) as OutboxRow | undefined;
    if (!r) return null;
    return deliveryFromRow(r, this.attemptsOf([id]).get(id) ?? []);
  }

  async requeueDelivery(
    id: string,
    nowMs: number,
  ): Promise<"requeued" | "not_found" | "not_failed"> {
    return this.conn.write(() => {
      if (this.sql.requeue.run({ id, now: nowMs }).changes === 1) return "requeued";
      return this.sql.get.get(id) ? "not_failed" : "not_found";
    });
  }
}
