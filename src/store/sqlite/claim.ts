/**
 * Claiming and leasing tasks on SQLite: the statements only. Every method runs inside
 * the transaction of a write batch (write-batch.ts), which commits it together with the
 * other writes of the moment, on the writer thread.
 *
 * SQLite has one writer at a time, so within that transaction a claim picks runnable
 * ids and flips them to `processing` with a fresh lease token; no other process can
 * interleave between the SELECT and the UPDATE. (PostgreSQL gets `FOR UPDATE SKIP
 * LOCKED` in its own backend, with the same fencing rules.)
 *
 * Runnable = `pending` and due, or `processing` with a lapsed lease (its runner
 * stopped heartbeating: killed, hung or partitioned). Every later write for the task
 * names `(id, lease_token)` and is refused once another claim has replaced the token.
 *
 * Capacity: the runner passes per-model budgets (free channel slots). A model with no
 * budget left is excluded in SQL, so its queue does not hide other models' work; a
 * model whose budget runs out mid-batch is excluded and the pick repeated, at most a
 * few rounds. Within a model the order stays oldest first: nothing starves.
 */
import { randomBytes } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import type { ClaimedTask, MarkResult } from "../store.js";
import { taskFromRow, type TaskRow } from "../rows.js";

interface PickRow {
  id: string;
  model: string;
}

export class SqliteLeases {
  private readonly sql: Record<
    "take" | "extend" | "progress" | "markChannel" | "held" | "release" | "busy",
    Statement
  >;
  private readonly picks = new Map<string, Statement>();

  constructor(private readonly db: Database) {
    this.sql = {
      take: db.prepare(
        `UPDATE tasks SET status = 'processing', lease_owner = @owner, lease_token = @token, lease_expires_ms = @until,
           attempts = attempts + 1, started_ms = COALESCE(started_ms, @now), updated_ms = @now
         WHERE id = @id AND (status = 'pending' OR (status = 'processing' AND lease_expires_ms < @now))
         RETURNING *`,
      ),
      extend: db.prepare(
        `UPDATE tasks SET lease_expires_ms = @until, updated_ms = @now
         WHERE id = @id AND lease_token = @token AND status = 'processing'
         RETURNING cancel_requested`,
      ),
      progress: db.prepare(
        `UPDATE tasks SET progress = MAX(progress, @progress), updated_ms = @now
         WHERE id = @id AND lease_token = @token AND status = 'processing'`,
      ),
      // A cancel that got in first wins: the upstream call must not start.
      markChannel: db.prepare(
        `UPDATE tasks SET channel_id = @channel, cancellable = @cancellable, updated_ms = @now
         WHERE id = @id AND lease_token = @token AND status = 'processing'
           AND (cancel_requested = 0 OR @cancellable = 1)
         RETURNING id`,
      ),
      // The channel's live calls in every process (tasks_channel_busy, migration 006).
      busy: db.prepare(
        `SELECT COUNT(*) AS n FROM tasks
         WHERE channel_id = @channel AND status = 'processing' AND lease_expires_ms >= @now AND id <> @id`,
      ),
      held: db.prepare(
        `SELECT 1 FROM tasks WHERE id = @id AND lease_token = @token AND status = 'processing'`,
      ),
      // The lease lapses at once and the attempt is not counted: no upstream was called.
      release: db.prepare(
        `UPDATE tasks SET lease_owner = NULL, lease_token = NULL, lease_expires_ms = @now - 1,
           attempts = MAX(attempts - 1, 0), updated_ms = @now
         WHERE id = @id AND lease_token = @token AND status = 'processing'`,
      ),
    };
  }

  /** The pick of runnable ids, with `excluded` models left out (one statement per shape). */
  private pick(kind: "pending" | "lapsed", excluded: number): Statement {
    const key = `${kind}:${excluded}`;
    let st = this.picks.get(key);
    if (!st) {
      const notIn = excluded ? ` AND model NOT IN (${Array(excluded).fill("?").join(", ")})` : "";
      // INDEXED BY: the queue's partial indexes, walked in order and stopped at the limit.
      // Left to itself, the planner (no statistics) prefers the console's
      // tasks_status_model_list for `status = ?` and then sorts every pending task: a
      // claim that costs O(queue) instead of O(limit).
      st =
        kind === "pending"
          ? this.db.prepare(
              `SELECT id, model FROM tasks INDEXED BY tasks_pending
               WHERE status = 'pending' AND run_after_ms <= ?${notIn} ORDER BY run_after_ms LIMIT ?`,
            )
          : this.db.prepare(
              `SELECT id, model FROM tasks INDEXED BY tasks_leases
               WHERE status = 'processing' AND lease_expires_ms < ?${notIn} ORDER BY lease_expires_ms LIMIT ?`,
            );
      this.picks.set(key, st);
    }
    return st;
  }

  claim(
    owner: string,
    limit: number,
    leaseMs: number,
    nowMs: number,
    budgets?: ReadonlyMap<string, number>,
  ): ClaimedTask[] {
    if (limit <= 0) return [];
    const left = new Map(budgets ?? []);
    const excluded = [...left].filter(([, n]) => n <= 0).map(([m]) => m);
    const picked: string[] = [];
    const seen = new Set<string>();
    for (let round = 0; round < 8 && picked.length < limit; round++) {
      const want = limit - picked.length;
      const rows = [
        ...(this.pick("lapsed", excluded.length).all(nowMs, ...excluded, want) as PickRow[]),
        ...(this.pick("pending", excluded.length).all(nowMs, ...excluded, want) as PickRow[]),
      ];
      let skipped = false;
      for (const { id, model } of rows) {
        if (picked.length >= limit || seen.has(id)) continue;
        const budget = left.get(model);
        if (budget !== undefined) {
          if (budget <= 0) {
            skipped = true;
            continue;
          }
          left.set(model, budget - 1);
          if (budget - 1 <= 0) excluded.push(model);
        }
        seen.add(id);
        picked.push(id);
      }
      if (!skipped) break;
    }
    const claimed: ClaimedTask[] = [];
    for (const id of picked) {
      const token = randomBytes(12).toString("base64url");
      const row = this.sql.take.get({
        id,
        owner,
        token,
        until: nowMs + leaseMs,
        now: nowMs,
      }) as (TaskRow & { price_micros: number; multiplier_ppm: number }) | undefined;
      if (!row) continue;
      claimed.push({
        task: taskFromRow(row),
        leaseToken: token,
        priceMicros: Number(row.price_micros),
        multiplierPpm: Number(row.multiplier_ppm),
      });
    }
    return claimed;
  }

  markChannel(
    taskId: string,
    leaseToken: string,
    channelId: string,
    cancellable: boolean,
    nowMs: number,
    maxInFlight: number | null = null,
  ): MarkResult {
    if (maxInFlight !== null && this.sql.held.get({ id: taskId, token: leaseToken })) {
      // One writer at a time: nothing can mark the channel between this count and the update.
      const { n } = this.sql.busy.get({ channel: channelId, now: nowMs, id: taskId }) as {
        n: number;
      };
      if (n >= maxInFlight) return "channel_full";
    }
    const args = {
      id: taskId,
      token: leaseToken,
      channel: channelId,
      cancellable: cancellable ? 1 : 0,
      now: nowMs,
    };
    if (this.sql.markChannel.get(args)) return "ok";
    return this.sql.held.get({ id: taskId, token: leaseToken }) ? "cancel_requested" : "lease_lost";
  }

  release(taskId: string, leaseToken: string, nowMs: number): boolean {
    return this.sql.release.run({ id: taskId, token: leaseToken, now: nowMs }).changes === 1;
  }

  heartbeat(
    leases: Array<{ taskId: string; leaseToken: string }>,
    leaseMs: number,
    nowMs: number,
  ): { lost: string[]; cancelRequested: string[] } {
    const lost: string[] = [];
    const cancelRequested: string[] = [];
    for (const l of leases) {
      const r = this.sql.extend.get({
        id: l.taskId,
        token: l.leaseToken,
        until: nowMs + leaseMs,
        now: nowMs,
      }) as { cancel_requested: number } | undefined;
      if (!r) lost.push(l.taskId);
      else if (Number(r.cancel_requested) === 1) cancelRequested.push(l.taskId);
    }
    return { lost, cancelRequested };
  }

  progress(taskId: string, leaseToken: string, progress: number, nowMs: number): boolean {
    return (
      this.sql.progress.run({ id: taskId, token: leaseToken, progress, now: nowMs }).changes === 1
    );
  }
}
