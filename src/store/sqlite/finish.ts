/**
 * Finishing a task on SQLite: the terminal move, the settlement and the callback's
 * outbox row, in one transaction: the write batch's (write-batch.ts), whose statements
 * these are.
 *
 * The move is a compare-and-set on `(id, lease_token, status = 'processing')`; if it
 * changes no row the lease was lost and nothing else is written. The settlement
 * captures the charge and releases the rest of the hold; the ledger's unique
 * (task_id, kind) index makes a second capture or release impossible even if a bug
 * got past the compare-and-set.
 */
import { randomUUID } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import type { FailureCode } from "../../core/types.js";
import type { CancelResult, ExpiredTask, TaskOutcome } from "../store.js";

interface FinishRow {
  account_id: string;
  api_key_id: string;
  credits_reserved_micros: number;
  callback_url: string | null;
}

export class SqliteFinisher {
  private readonly sql: Record<
    | "move"
    | "cancelPending"
    | "overdue"
    | "expirePending"
    | "requestCancel"
    | "account"
    | "key"
    | "ledger"
    | "outbox",
    Statement
  >;

  constructor(db: Database) {
    this.sql = {
      move: db.prepare(
        `UPDATE tasks SET status = @status, progress = COALESCE(@progress, progress), results = @results, error_code = @error_code,
           error_message = @error_message, credits_used_micros = @charge, finished_ms = @now, updated_ms = @now,
           lease_owner = NULL, lease_token = NULL, lease_expires_ms = NULL
         WHERE id = @id AND lease_token = @token AND status = 'processing'
         RETURNING account_id, api_key_id, credits_reserved_micros, callback_url`,
      ),
      // A pending task has no lease: the compare-and-set is on the status alone.
      cancelPending: db.prepare(
        `UPDATE tasks SET status = 'failed', error_code = 'request_cancelled', error_message = 'The task was cancelled.',
           credits_used_micros = 0, finished_ms = @now, updated_ms = @now
         WHERE id = @id AND account_id = @account AND status = 'pending'
         RETURNING account_id, api_key_id, credits_reserved_micros, callback_url`,
      ),
      // Oldest first, through the tasks_pending index: O(limit), however long the queue.
      overdue: db
        .prepare(
          `SELECT id FROM tasks INDEXED BY tasks_pending WHERE status = 'pending' AND run_after_ms < @cutoff ORDER BY run_after_ms LIMIT @limit`,
        )
        .pluck(),
      // Like cancelPending: no lease, the compare-and-set is on the status alone.
      expirePending: db.prepare(
        `UPDATE tasks SET status = 'failed', error_code = @code, error_message = @message,
           credits_used_micros = 0, finished_ms = @now, updated_ms = @now
         WHERE id = @id AND status = 'pending'
         RETURNING account_id, api_key_id, credits_reserved_micros, callback_url, model, created_ms`,
      ),
      requestCancel: db.prepare(
        `UPDATE tasks SET cancel_requested = 1, updated_ms = @now
         WHERE id = @id AND account_id = @account AND status = 'processing' AND cancellable = 1 RETURNING id`,
      ),
      account: db.prepare(
        `UPDATE accounts SET balance_micros = balance_micros - @charge, held_micros = held_micros - @reserved,
           used_micros = used_micros + @charge
         WHERE id = @id RETURNING balance_micros, held_micros`,
      ),
      key: db.prepare(
        `UPDATE api_keys SET held_micros = held_micros - @reserved, used_micros = used_micros + @charge,
           active_tasks = active_tasks - 1 WHERE id = @id`,
      ),
      ledger: db.prepare(
        `INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros, balance_after_micros, held_after_micros, created_ms)
         VALUES (@account_id, @api_key_id, @task_id, @kind, @amount, @balance_after, @held_after, @now)`,
      ),
      outbox: db.prepare(
        `INSERT INTO webhook_outbox (id, task_id, account_id, url, next_attempt_ms, created_ms)
         VALUES (@id, @task_id, @account_id, @url, @now, @now)`,
      ),
    };
  }

  private enqueueCallback(taskId: string, row: FinishRow, nowMs: number): void {
    if (!row.callback_url) return;
    this.sql.outbox.run({
      id: `msg_${randomUUID()}`,
      task_id: taskId,
      account_id: row.account_id,
      url: row.callback_url,
      now: nowMs,
    });
  }

  /** Cancels a pending task at once (refunded); asks the runner to stop a processing one. */
  cancel(accountId: string, taskId: string, nowMs: number): CancelResult {
    const moved = this.sql.cancelPending.get({ id: taskId, account: accountId, now: nowMs }) as
      FinishRow | undefined;
    if (moved) {
      settle(this.sql, taskId, moved, 0, nowMs);
      this.enqueueCallback(taskId, moved, nowMs);
      return "cancelled";
    }
    if (this.sql.requestCancel.get({ id: taskId, account: accountId, now: nowMs }))
      return "requested";
    return "not_cancellable";
  }

  /**
   * Fails pending tasks submitted before `cutoffMs` (they waited too long for a
   * channel), refunded in full, each by the same compare-and-set and settlement as a
   * cancel of a pending task.
   */
  expire(
    cutoffMs: number,
    limit: number,
    failure: { code: FailureCode; message: string },
    nowMs: number,
  ): ExpiredTask[] {
    const ids = this.sql.overdue.all({ cutoff: cutoffMs, limit }) as string[];
    const expired: ExpiredTask[] = [];
    for (const id of ids) {
      const moved = this.sql.expirePending.get({
        id,
        code: failure.code,
        message: failure.message,
        now: nowMs,
      }) as (FinishRow & { model: string; created_ms: number }) | undefined;
      if (!moved) continue;
      settle(this.sql, id, moved, 0, nowMs);
      this.enqueueCallback(id, moved, nowMs);
      expired.push({
        id,
        accountId: moved.account_id,
        model: moved.model,
        createdMs: Number(moved.created_ms),
      });
    }
    return expired;
  }

  /** The terminal move and its settlement; false (nothing written) when the lease is gone. */
  finish(taskId: string, leaseToken: string, outcome: TaskOutcome, nowMs: number): boolean {
    const completed = outcome.kind === "completed";
    const moved = this.sql.move.get({
      id: taskId,
      token: leaseToken,
      status: outcome.kind,
      progress: completed ? 100 : null,
      results: completed ? JSON.stringify(outcome.images) : null,
      error_code: completed ? null : outcome.code,
      error_message: completed ? null : outcome.message,
      charge: completed ? outcome.chargeMicros : 0,
      now: nowMs,
    }) as FinishRow | undefined;
    if (!moved) return false;
    settle(this.sql, taskId, moved, completed ? outcome.chargeMicros : 0, nowMs);
    this.enqueueCallback(taskId, moved, nowMs);
    return true;
  }
}

/** Capture `charge` out of the task's hold and release the remainder. */
function settle(
  sql: Record<"account" | "key" | "ledger", Statement>,
  taskId: string,
  row: FinishRow,
  charge: number,
  nowMs: number,
): void {
  const reserved = Number(row.credits_reserved_micros);
  if (charge > reserved)
    throw new Error(`settlement for ${taskId} would charge more than was reserved`);
  const after = sql.account.get({ id: row.account_id, charge, reserved }) as {
    balance_micros: number;
    held_micros: number;
  };
  sql.key.run({ id: row.api_key_id, charge, reserved });
  const entry = (kind: "capture" | "release", amount: number) =>
    sql.ledger.run({
      account_id: row.account_id,
      api_key_id: row.api_key_id,
      task_id: taskId,
      kind,
      amount,
      balance_after: after.balance_micros,
      held_after: after.held_micros,
      now: nowMs,
    });
  entry("capture", charge);
  entry("release", reserved - charge);
}
