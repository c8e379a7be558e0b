/**
 * Submission on SQLite: reserve credits and insert the task in one transaction, with
 * group commit.
 *
 * Why group commit: with `synchronous=FULL` every COMMIT is an fsync of the WAL, and
 * an fsync costs far more than the statements. Submissions that arrive in the same
 * event-loop turn are written in one transaction (one fsync); each one runs inside
 * its own SAVEPOINT (better-sqlite3 nests `transaction()` that way), so a refused or
 * failing submission rolls back only its own writes. Nobody is answered before the
 * batch has committed, so a 200 always means "durable".
 *
 * Overspending is impossible by construction: the balance, key-limit and key-concurrency
 * checks are conditions of the UPDATEs that take the hold, not a read followed by a write.
 */
import type { Database, Statement } from "better-sqlite3";
import type { SubmitInput, SubmitResult, TaskRecord } from "../store.js";
import { taskFromRow, type TaskRow } from "./rows.js";

const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

class Refused extends Error {
  constructor(readonly result: SubmitResult) {
    super(result.kind);
  }
}

interface Pending {
  input: SubmitInput;
  resolve(r: SubmitResult): void;
  reject(e: unknown): void;
}

export class SqliteSubmitter {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly one: (input: SubmitInput) => SubmitResult;
  private readonly sql: Record<
    | "findIdem"
    | "deleteIdem"
    | "insertIdem"
    | "holdKey"
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
    this.one = db.transaction((input: SubmitInput) => this.submitOne(input));
  }

  submit(input: SubmitInput): Promise<SubmitResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    const outcomes: Array<{ ok: true; value: SubmitResult } | { ok: false; error: unknown }> = [];
    try {
      this.db
        .transaction(() => {
          for (const item of batch) {
            try {
              outcomes.push({ ok: true, value: this.one(item.input) });
            } catch (e) {
              if (e instanceof Refused) outcomes.push({ ok: true, value: e.result });
              else outcomes.push({ ok: false, error: e });
            }
          }
        })
        .immediate();
    } catch (e) {
      // The batch's COMMIT itself failed: nothing in it is durable, so nobody gets a 200.
      for (const item of batch) item.reject(e);
      return;
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
  }

  private submitOne(input: SubmitInput): SubmitResult {
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
      throw new Refused({ kind: why?.busy ? "too_many_active_tasks" : "key_limit_exceeded" });
    }
    const acct = this.sql.holdAccount.get({ id: p.accountId, amount }) as
      { balance_micros: number; held_micros: number } | undefined;
    if (!acct) throw new Refused({ kind: "insufficient_balance" });

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
    const createdAt = Math.floor(nowMs / 1000);
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
      created_s: createdAt,
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
    // The record is built from what was just written: no read-back, no JSON re-parse.
    const task: TaskRecord = {
      id: input.taskId,
      model: req.model,
      status: "pending",
      progress: 0,
      createdAt,
      userGroup: p.groupName,
      creditsReservedMicros: amount,
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
    return { kind: "created", task };
  }
}
