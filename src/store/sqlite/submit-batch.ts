/**
 * The submissions of a write batch (write-batch.ts): reserve credits and insert each
 * task, all in the batch's one transaction (group commit). Synchronous and free of
 * scheduling, so the same code runs on the writer thread and, where there is none, inline.
 *
 * The usual way through takes the holds once per batch: the key's and the account's
 * rows are read once inside the write transaction (which excludes every other writer),
 * each submission is decided in order against the running totals, and one UPDATE per
 * key and per account adds what was accepted. Those UPDATEs are guarded by the values
 * read, so a total that moved anyway aborts the batch rather than overspend. A refused
 * submission writes nothing, so no SAVEPOINT per item is needed (SQLite pays for one
 * by copying every page an item touches into a statement journal).
 *
 * Any error in that way through aborts the whole batch, which is then run again the
 * careful way: each submission in its own SAVEPOINT, its holds taken by conditional
 * UPDATEs, so only the failing submission fails.
 */
import type { Database, Statement } from "better-sqlite3";
import type { SubmitResult } from "../store.js";
import { taskFromRow, type TaskRow } from "../rows.js";
import { IDEMPOTENCY_WINDOW_MS, type SubmitRow } from "../submission.js";

export { createdTask, toSubmitRow, type SubmitRow } from "../submission.js";

/**
 * What the write decided. "created" carries no record, only the estimate the write
 * settled on (it depends on the queue ahead): the caller builds the record from its own
 * input (createdTask), so nothing but the verdict crosses back from the thread.
 */
export type WriteResult =
  Exclude<SubmitResult, { kind: "created" }> | { kind: "created"; estimatedSeconds: number };

/** A model's queue as read at the start of the batch, and what the batch adds to it. */
interface QueueTotals {
  pending: number;
  added: number;
}

/** A key's row as read at the start of the batch, and what the batch adds to it. */
interface KeyTotals {
  limit: number | null;
  used: number;
  held: number;
  active: number;
  maxConcurrent: number | null;
  addHeld: number;
  addActive: number;
}

interface AccountTotals {
  balance: number;
  held: number;
  addHeld: number;
}

export class SubmitBatch {
  /** One submission in its own SAVEPOINT, its holds taken by conditional UPDATEs. */
  readonly isolated: (row: SubmitRow) => WriteResult;
  private readonly sql: Record<
    | "findIdem"
    | "deleteIdem"
    | "insertIdem"
    | "readKey"
    | "readAccount"
    | "addKeyHolds"
    | "addAccountHolds"
    | "holdKey"
    | "whyKeyRefused"
    | "holdAccount"
    | "releaseKeyHold"
    | "releaseAccountHold"
    | "insertLedger"
    | "insertTask"
    | "getTask"
    | "queued",
    Statement
  >;

  constructor(db: Database) {
    this.sql = {
      findIdem: db.prepare(
        `SELECT request_hash, task_id, created_ms FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`,
      ),
      deleteIdem: db.prepare(`DELETE FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`),
      insertIdem: db.prepare(
        `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, task_id, created_ms) VALUES (?, ?, ?, ?, ?)`,
      ),
      readKey: db.prepare(
        `SELECT credit_limit_micros, used_micros, held_micros, active_tasks, max_concurrent FROM api_keys WHERE id = ?`,
      ),
      readAccount: db.prepare(`SELECT balance_micros, held_micros FROM accounts WHERE id = ?`),
      addKeyHolds: db.prepare(
        `UPDATE api_keys SET held_micros = held_micros + ?, active_tasks = active_tasks + ?
         WHERE id = ? AND held_micros = ? AND active_tasks = ?`,
      ),
      addAccountHolds: db.prepare(
        `UPDATE accounts SET held_micros = held_micros + ?
         WHERE id = ? AND held_micros = ? AND balance_micros - held_micros >= ?`,
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
      releaseKeyHold: db.prepare(
        `UPDATE api_keys SET held_micros = held_micros - @amount, active_tasks = active_tasks - 1 WHERE id = @id`,
      ),
      releaseAccountHold: db.prepare(
        `UPDATE accounts SET held_micros = held_micros - @amount WHERE id = @id`,
      ),
      insertLedger: db.prepare(
        `INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
         VALUES (?, ?, ?, 'reserve', ?, ?, ?, NULL, ?)`,
      ),
      insertTask: db.prepare(
        `INSERT INTO tasks (id, account_id, api_key_id, model, status, progress, request, n, user_group, price_micros, multiplier_ppm,
           credits_reserved_micros, estimated_s, callback_url, run_after_ms, created_s, created_ms, updated_ms)
         VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getTask: db.prepare(`SELECT * FROM tasks WHERE id = ?`),
      // Kept by 008_queue's triggers: O(1), however long the queue.
      queued: db.prepare(`SELECT pending FROM model_queue WHERE model = ?`).pluck(),
    };
    // A nested transaction() runs as a SAVEPOINT inside the batch's transaction.
    this.isolated = db.transaction((row: SubmitRow) => this.submitIsolated(row));
  }

  /**
   * Decides every row in order against running totals and writes the accepted ones,
   * inside the caller's transaction (the write batch's). Throws when anything goes
   * wrong; the caller then rolls back and decides each row alone with `isolated`.
   */
  decideAll(batch: readonly SubmitRow[]): WriteResult[] {
    const keys = new Map<string, KeyTotals | null>();
    const accounts = new Map<string, AccountTotals | null>();
    const queues = new Map<string, QueueTotals>();
    const results = batch.map((row) => this.decide(row, keys, accounts, queues));
    for (const [id, k] of keys) {
      if (!k || k.addActive === 0) continue;
      const r = this.sql.addKeyHolds.run(k.addHeld, k.addActive, id, k.held, k.active);
      if (r.changes !== 1) throw new Error(`api key ${id} changed during a submission batch`);
    }
    for (const [id, a] of accounts) {
      if (!a || a.addHeld === 0) continue;
      const r = this.sql.addAccountHolds.run(a.addHeld, id, a.held, a.addHeld);
      if (r.changes !== 1) throw new Error(`account ${id} changed during a submission batch`);
    }
    return results;
  }

  /** One submission against the batch's running totals; writes only if accepted. */
  private decide(
    row: SubmitRow,
    keys: Map<string, KeyTotals | null>,
    accounts: Map<string, AccountTotals | null>,
    queues: Map<string, QueueTotals>,
  ): WriteResult {
    const replay = this.idempotency(row);
    if (replay) return replay;
    const amount = row.reserveMicros;

    let k = keys.get(row.keyId);
    if (k === undefined) {
      const r = this.sql.readKey.get(row.keyId) as
        | {
            credit_limit_micros: number | null;
            used_micros: number;
            held_micros: number;
            active_tasks: number;
            max_concurrent: number | null;
          }
        | undefined;
      k = r
        ? {
            limit: r.credit_limit_micros,
            used: r.used_micros,
            held: r.held_micros,
            active: r.active_tasks,
            maxConcurrent: r.max_concurrent,
            addHeld: 0,
            addActive: 0,
          }
        : null;
      keys.set(row.keyId, k);
    }
    if (!k) return { kind: "key_limit_exceeded" };
    if (k.maxConcurrent !== null && k.active + k.addActive >= k.maxConcurrent)
      return { kind: "too_many_active_tasks" };
    if (k.limit !== null && k.limit - k.used - (k.held + k.addHeld) < amount)
      return { kind: "key_limit_exceeded" };

    let a = accounts.get(row.accountId);
    if (a === undefined) {
      const r = this.sql.readAccount.get(row.accountId) as
        { balance_micros: number; held_micros: number } | undefined;
      a = r ? { balance: r.balance_micros, held: r.held_micros, addHeld: 0 } : null;
      accounts.set(row.accountId, a);
    }
    if (!a || a.balance - (a.held + a.addHeld) < amount) return { kind: "insufficient_balance" };

    // Read before this batch inserts any task of the model (its first row is decided
    // before its first insert); the triggers then count the inserts, this total too.
    let q = queues.get(row.model);
    if (q === undefined) {
      q = { pending: this.queuedNow(row.model), added: 0 };
      queues.set(row.model, q);
    }
    const ahead = q.pending + q.added;
    if (row.maxQueued !== null && ahead >= row.maxQueued) return { kind: "queue_full" };

    k.addHeld += amount;
    k.addActive += 1;
    a.addHeld += amount;
    q.added += 1;
    return this.insert(row, a.balance, a.held + a.addHeld, ahead);
  }

  private queuedNow(model: string): number {
    return Number((this.sql.queued.get(model) as number | undefined) ?? 0);
  }

  /** The careful way: conditional UPDATEs per submission, inside its own savepoint. */
  private submitIsolated(row: SubmitRow): WriteResult {
    const replay = this.idempotency(row);
    if (replay) return replay;
    const amount = row.reserveMicros;
    const ahead = this.queuedNow(row.model);
    if (!this.sql.holdKey.get({ id: row.keyId, amount })) {
      const why = this.sql.whyKeyRefused.get(row.keyId) as { busy: number } | undefined;
      return { kind: why?.busy ? "too_many_active_tasks" : "key_limit_exceeded" };
    }
    const acct = this.sql.holdAccount.get({ id: row.accountId, amount }) as
      { balance_micros: number; held_micros: number } | undefined;
    if (!acct) {
      this.sql.releaseKeyHold.run({ id: row.keyId, amount });
      return { kind: "insufficient_balance" };
    }
    if (row.maxQueued !== null && ahead >= row.maxQueued) {
      // Inside its own savepoint: throwing would undo the holds, but a refusal is a
      // value, so they are given back by hand, as for a refused account above.
      this.sql.releaseKeyHold.run({ id: row.keyId, amount });
      this.sql.releaseAccountHold.run({ id: row.accountId, amount });
      return { kind: "queue_full" };
    }
    return this.insert(row, acct.balance_micros, acct.held_micros, ahead);
  }

  /**
   * The idempotency key's verdict when it decides the submission (a replay, a conflict,
   * or nothing to replay); null to go on and create the task.
   */
  private idempotency(row: SubmitRow): WriteResult | null {
    if (row.idemKey !== null) {
      const prev = this.sql.findIdem.get(row.accountId, row.idemKey) as
        { request_hash: string; task_id: string; created_ms: number } | undefined;
      if (prev && row.nowMs - Number(prev.created_ms) < IDEMPOTENCY_WINDOW_MS) {
        if (prev.request_hash !== row.idemHash) return { kind: "idempotency_conflict" };
        const task = this.sql.getTask.get(prev.task_id) as TaskRow | undefined;
        if (task) return { kind: "replayed", task: taskFromRow(task) };
      }
      // An expired entry (or one whose task is gone) no longer binds the key.
      if (prev && !row.replayOnly) this.sql.deleteIdem.run(row.accountId, row.idemKey);
    }
    return row.replayOnly ? { kind: "not_created" } : null;
  }

  /**
   * The accepted submission's rows: its reserve entry, the task, its idempotency key.
   * `ahead`: the model's tasks queued before it, which lengthen its estimate.
   */
  private insert(
    row: SubmitRow,
    balanceAfter: number,
    heldAfter: number,
    ahead: number,
  ): WriteResult {
    const rounds = row.queueSlots > 0 ? Math.floor(ahead / row.queueSlots) : 0;
    const estimatedSeconds = row.estimatedSeconds + rounds * Math.max(0, row.queueRoundSeconds);
    this.sql.insertLedger.run(
      row.accountId,
      row.keyId,
      row.taskId,
      row.reserveMicros,
      balanceAfter,
      heldAfter,
      row.nowMs,
    );
    this.sql.insertTask.run(
      row.taskId,
      row.accountId,
      row.keyId,
      row.model,
      row.requestJson,
      row.n,
      row.groupName,
      row.priceMicros,
      row.multiplierPpm,
      row.reserveMicros,
      estimatedSeconds,
      row.callbackUrl,
      row.nowMs, // run_after_ms
      Math.floor(row.nowMs / 1000),
      row.nowMs, // created_ms
      row.nowMs, // updated_ms
    );
    if (row.idemKey !== null)
      this.sql.insertIdem.run(row.accountId, row.idemKey, row.idemHash, row.taskId, row.nowMs);
    return { kind: "created", estimatedSeconds };
  }
}
