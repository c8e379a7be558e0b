/**
 * The webhook dispatcher's writes on SQLite: leasing due deliveries and recording each
 * attempt. The statements only: they run inside a write batch (write-batch.ts), group-
 * committed on the writer thread with the runner's writes, so a busy dispatcher puts
 * no commit on the event loop.
 *
 * The claim is one `UPDATE … RETURNING` over the due rows (CLAIM_DUE_SQL). It leaves
 * `status = 'pending'`: a dispatcher that dies mid-send simply lets its lease lapse and
 * the row is claimable again (at-least-once).
 */
import { randomBytes } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import type { AttemptResultInput, ClaimedDelivery } from "../webhooks.js";

/**
 * The claim: one statement picks the due rows and leases them. SQLite has a single
 * writer, so no other process can interleave between the choice and the lease.
 */
const CLAIM_DUE_SQL = `UPDATE webhook_outbox SET lease_token = @token, lease_expires_ms = @until, updated_ms = @now
  WHERE id IN (
    SELECT id FROM webhook_outbox
    WHERE status = 'pending' AND next_attempt_ms <= @now
      AND (lease_expires_ms IS NULL OR lease_expires_ms < @now)
    ORDER BY next_attempt_ms LIMIT @limit)
  RETURNING id, task_id, account_id, url, attempts, attempt_base`;

interface ClaimedRow {
  id: string;
  task_id: string;
  account_id: string;
  url: string;
  attempts: number;
  attempt_base: number;
}

export class SqliteOutboxWrites {
  private readonly sql: Record<
    "claim" | "secret" | "move" | "insertAttempt" | "release",
    Statement
  >;

  constructor(db: Database) {
    this.sql = {
      claim: db.prepare(CLAIM_DUE_SQL),
      secret: db.prepare(`SELECT webhook_secret FROM accounts WHERE id = ?`),
      move: db.prepare(
        `UPDATE webhook_outbox SET status = @status, attempts = @attempt, next_attempt_ms = @next,
           last_status_code = @code, last_error = @error, delivered_ms = @delivered,
           lease_token = NULL, lease_expires_ms = NULL, updated_ms = @now
         WHERE id = @id AND lease_token = @token AND status = 'pending'`,
      ),
      insertAttempt: db.prepare(
        `INSERT INTO webhook_attempts (outbox_id, attempt, status_code, latency_ms, error_kind, error_message, created_ms)
         VALUES (@id, @attempt, @code, @latency, @kind, @message, @now)`,
      ),
      release: db.prepare(
        `UPDATE webhook_outbox SET lease_token = NULL, lease_expires_ms = NULL
         WHERE id = ? AND lease_token = ?`,
      ),
    };
  }

  claimDue(limit: number, leaseMs: number, nowMs: number): ClaimedDelivery[] {
    if (limit <= 0) return [];
    const token = randomBytes(12).toString("base64url");
    const rows = this.sql.claim.all({
      token,
      until: nowMs + leaseMs,
      now: nowMs,
      limit,
    }) as ClaimedRow[];
    const secrets = new Map<string, string>();
    return rows.map((r) => {
      let secret = secrets.get(r.account_id);
      if (secret === undefined) {
        const s = this.sql.secret.get(r.account_id) as { webhook_secret: string } | undefined;
        secret = s?.webhook_secret ?? "";
        secrets.set(r.account_id, secret);
      }
      return {
        id: r.id,
        taskId: r.task_id,
        accountId: r.account_id,
        url: r.url,
        leaseToken: token,
        attempt: Number(r.attempts) + 1,
        scheduleAttempt: Number(r.attempts) - Number(r.attempt_base) + 1,
        secret,
      };
    });
  }

  /** False when the lease was lost: another dispatcher owns the row and records its own attempt. */
  recordAttempt(i: AttemptResultInput): boolean {
    const v = i.verdict;
    const moved = this.sql.move.run({
      id: i.id,
      token: i.leaseToken,
      status: v.status,
      attempt: i.attempt,
      next: v.status === "pending" ? v.nextAttemptMs : i.nowMs,
      code: i.statusCode,
      error: i.errorMessage,
      delivered: v.status === "delivered" ? i.nowMs : null,
      now: i.nowMs,
    });
    if (moved.changes !== 1) return false;
    this.sql.insertAttempt.run({
      id: i.id,
      attempt: i.attempt,
      code: i.statusCode,
      latency: Math.max(0, Math.round(i.latencyMs)),
      kind: i.errorKind,
      message: i.errorMessage,
      now: i.nowMs,
    });
    return true;
  }

  releaseLease(id: string, leaseToken: string): boolean {
    return this.sql.release.run(id, leaseToken).changes === 1;
  }
}
