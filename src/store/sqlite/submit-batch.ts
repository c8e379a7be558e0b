/**
 * The write of a batch of submissions: reserve credits and insert each task, all in one
 * transaction (group commit). Synchronous and free of scheduling, so the same code runs
 * on the writer thread (submit-thread.ts) and, where there is none, inline.
 *
 * A refused submission leaves nothing behind without needing a rollback: its only
 * write before the refusal (the key's hold) is undone by a compensating UPDATE in the
 * same transaction. So the batch runs without a SAVEPOINT per item, which SQLite would
 * pay for by copying every page an item touches into a statement journal. An
 * unexpected error (a constraint, a full disk) aborts the whole batch, which is then
 * re-run with one SAVEPOINT per item, so only the failing submission fails.
 *
 * Overspending is impossible by construction: the balance, key-limit and key-concurrency
 * checks are conditions of the UPDATEs that take the hold, not a read followed by a write.
 */
import type { Database, Statement } from "better-sqlite3";
import type { SubmitInput, SubmitResult, TaskRecord } from "../store.js";
import { taskFromRow, type TaskRow } from "./rows.js";

const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * What the write decided. "created" carries no record: the caller builds it from its
 * own input (createdTask), so nothing but the verdict crosses back from the thread.
 */
export type WriteResult = Exclude<SubmitResult, { kind: "created" }> | { kind: "created" };

const CREATED: WriteResult = { kind: "created" };

/** Per submission: its verdict, or the error that failed it alone. */
export type WriteOutcome = { ok: true; value: WriteResult } | { ok: false; error: unknown };

export class SubmitBatch {
  private readonly isolated: (input: SubmitInput) => WriteResult;
  private readonly sql: Record<
    | "findIdem"
    | "deleteIdem"
    | "insertIdem"
    | "holdKey"
    | "releaseKeyHold"
    | "whyKeyRefused"
    | "holdAccount"
    | "insertLedger"
    | "insertTask"
    | "getTask",
    Statement
  >;

  constructor(private readonly db: Database) {
    this.sql = {
      findIdem: db.prepare(
        `SELECT request_hash, task_id, created_ms FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`,
      ),
      deleteIdem: db.prepare(`DELETE FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`),
      insertIdem: db.prepare(
        `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, task_id, created_ms) VALUES (?, ?, ?, ?, ?)`,
      ),
      holdKey: db.prepare(
        `UPDATE api_keys SET held_micros = held_micros + @amount, active_tasks = active_tasks + 1
         WHERE id = @id
           AND (credit_limit_micros IS NULL OR credit_limit_micros - used_micros - held_micros >= @amount)
           AND (max_concurrent IS NULL OR active_tasks < max_concurrent)
         RETURNING 1`,
      ),
      releaseKeyHold: db.prepare(
        `UPDATE api_keys SET held_micros = held_micros - @amount, active_tasks = active_tasks - 1 WHERE id = @id`,
      ),
      whyKeyRefused: db.prepare(
        `SELECT (max_concurrent IS NOT NULL AND active_tasks >= max_concurrent) AS busy FROM api_keys WHERE id = ?`,
      ),
      holdAccount: db.prepare(
        `UPDATE accounts SET held_micros = held_micros + @amount
         WHERE id = @id AND balance_micros - held_micros >= @amount
         RETURNING balance_micros, held_micros`,
      ),
      insertLedger: db.prepare(
        `INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
         VALUES (@account_id, @api_key_id, @task_id, @kind, @amount, @balance_after, @held_after, @reason, @now)`,
      ),
      insertTask: db.prepare(
        `INSERT INTO tasks (id, account_id, api_key_id, model, status, progress, request, n, user_group, price_micros, multiplier_ppm,
           credits_reserved_micros, estimated_s, callback_url, run_after_ms, created_s, created_ms, updated_ms)
         VALUES (@id, @account_id, @api_key_id, @model, 'pending', 0, @request, @n, @user_group, @price, @multiplier,
           @reserved, @estimated, @callback_url, @now, @created_s, @now, @now)`,
      ),
      getTask: db.prepare(`SELECT * FROM tasks WHERE id = ?`),
    };
    // A nested transaction() runs as a SAVEPOINT inside the batch's transaction.
    this.isolated = db.transaction((input: SubmitInput) => this.submitOne(input));
  }

  /**
   * Writes the batch in one transaction and returns one outcome per input, in order.
   * Throws only when the transaction as a whole could not commit: then nothing in it
   * is durable.
   */
  run(batch: readonly SubmitInput[]): WriteOutcome[] {
    try {
      return this.runOnce(batch, false);
    } catch {
      // Something other than a refusal went wrong inside the batch, and the whole
      // transaction rolled back: run it again with each submission in its own savepoint.
      return this.runOnce(batch, true);
    }
  }

  private runOnce(batch: readonly SubmitInput[], isolate: boolean): WriteOutcome[] {
    const outcomes: WriteOutcome[] = [];
    this.db
      .transaction(() => {
        for (const input of batch) {
          if (!isolate) {
            outcomes.push({ ok: true, value: this.submitOne(input) });
            continue;
          }
          try {
            outcomes.push({ ok: true, value: this.isolated(input) });
          } catch (e) {
            outcomes.push({ ok: false, error: e });
          }
        }
      })
      .immediate();
    return outcomes;
  }

  private submitOne(input: SubmitInput): WriteResult {
    const { principal: p, request: req, nowMs } = input;
    if (input.idempotency) {
      const prev = this.sql.findIdem.get(p.accountId, input.idempotency.key) as
        { request_hash: string; task_id: string; created_ms: number } | undefined;
      if (prev && nowMs - Number(prev.created_ms) < IDEMPOTENCY_WINDOW_MS) {
        if (prev.request_hash !== input.idempotency.requestHash)
          return { kind: "idempotency_conflict" };
        const row = this.sql.getTask.get(prev.task_id) as TaskRow | undefined;
        if (row) return { kind: "replayed", task: taskFromRow(row) };
      }
      if (prev && !input.replayOnly) this.sql.deleteIdem.run(p.accountId, input.idempotency.key);
    }
    if (input.replayOnly) return { kind: "not_created" };

    const amount = input.reserveMicros;
    if (!this.sql.holdKey.get({ id: p.keyId, amount })) {
      const why = this.sql.whyKeyRefused.get(p.keyId) as { busy: number } | undefined;
      return { kind: why?.busy ? "too_many_active_tasks" : "key_limit_exceeded" };
    }
    const acct = this.sql.holdAccount.get({ id: p.accountId, amount }) as
      { balance_micros: number; held_micros: number } | undefined;
    if (!acct) {
      this.sql.releaseKeyHold.run({ id: p.keyId, amount });
      return { kind: "insufficient_balance" };
    }

    this.sql.insertLedger.run({
      account_id: p.accountId,
      api_key_id: p.keyId,
      task_id: input.taskId,
      kind: "reserve",
      amount,
      balance_after: acct.balance_micros,
      held_after: acct.held_micros,
      reason: null,
      now: nowMs,
    });
    this.sql.insertTask.run({
      id: input.taskId,
      account_id: p.accountId,
      api_key_id: p.keyId,
      model: req.model,
      request: JSON.stringify(req),
      n: req.n,
      user_group: p.groupName,
      price: input.priceMicros,
      multiplier: p.multiplierPpm,
      reserved: amount,
      estimated: input.estimatedSeconds,
      callback_url: req.callbackUrl,
      now: nowMs,
      created_s: Math.floor(nowMs / 1000),
    });
    if (input.idempotency) {
      this.sql.insertIdem.run(
        p.accountId,
        input.idempotency.key,
        input.idempotency.requestHash,
        input.taskId,
        nowMs,
      );
    }
    return CREATED;
  }
}

/** The record of a task this input created, built from what was written: no read-back. */
export function createdTask(input: SubmitInput): TaskRecord {
  const { principal: p, request: req } = input;
  return {
    id: input.taskId,
    model: req.model,
    status: "pending",
    progress: 0,
    createdAt: Math.floor(input.nowMs / 1000),
    userGroup: p.groupName,
    creditsReservedMicros: input.reserveMicros,
    creditsUsedMicros: null,
    estimatedSeconds: input.estimatedSeconds,
    results: [],
    errorCode: null,
    errorMessage: null,
    cancellable: true,
    accountId: p.accountId,
    apiKeyId: p.keyId,
    finishedAt: null,
    request: req,
    cancelRequested: false,
    attempts: 0,
    channelId: null,
  };
}
