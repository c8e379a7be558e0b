/**
 * Claiming and leasing tasks on SQLite.
 *
 * SQLite has one writer at a time, so a claim is an IMMEDIATE transaction that picks
 * runnable ids and flips them to `processing` with a fresh lease token; no other
 * process can interleave between the SELECT and the UPDATE. (PostgreSQL gets
 * `FOR UPDATE SKIP LOCKED` in its own backend, with the same fencing rules.)
 *
 * Runnable = `pending` and due, or `processing` with a lapsed lease (its runner
 * stopped heartbeating: killed, hung or partitioned). Every later write for the task
 * names `(id, lease_token)` and is refused once another claim has replaced the token.
 */
import { randomBytes } from "node:crypto";
import type { Database, Statement, Transaction } from "better-sqlite3";
import type { ClaimedTask } from "../store.js";
import { taskFromRow, type TaskRow } from "./rows.js";

export class SqliteLeases {
  private readonly sql: Record<"duePending" | "lapsed" | "take" | "extend" | "progress", Statement>;
  private readonly claimTx: Transaction<
    (owner: string, limit: number, leaseMs: number, nowMs: number) => ClaimedTask[]
  >;
  private readonly heartbeatTx: (
    leases: Array<{ taskId: string; leaseToken: string }>,
    until: number,
    nowMs: number,
  ) => { lost: string[]; cancelRequested: string[] };

  constructor(db: Database) {
    this.sql = {
      duePending: db.prepare(
        `SELECT id FROM tasks WHERE status = 'pending' AND run_after_ms <= ? ORDER BY run_after_ms LIMIT ?`,
      ),
      lapsed: db.prepare(
        `SELECT id FROM tasks WHERE status = 'processing' AND lease_expires_ms < ? ORDER BY lease_expires_ms LIMIT ?`,
      ),
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
    };

    this.claimTx = db.transaction(
      (owner: string, limit: number, leaseMs: number, nowMs: number) => {
        const ids = [
          ...(this.sql.lapsed.all(nowMs, limit) as Array<{ id: string }>),
          ...(this.sql.duePending.all(nowMs, limit) as Array<{ id: string }>),
        ].slice(0, limit);
        const claimed: ClaimedTask[] = [];
        for (const { id } of ids) {
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
      },
    );

    this.heartbeatTx = db.transaction((leases, until: number, nowMs: number) => {
      const lost: string[] = [];
      const cancelRequested: string[] = [];
      for (const l of leases) {
        const r = this.sql.extend.get({ id: l.taskId, token: l.leaseToken, until, now: nowMs }) as
          { cancel_requested: number } | undefined;
        if (!r) lost.push(l.taskId);
        else if (Number(r.cancel_requested) === 1) cancelRequested.push(l.taskId);
      }
      return { lost, cancelRequested };
    });
  }

  claim(owner: string, limit: number, leaseMs: number, nowMs: number): ClaimedTask[] {
    if (limit <= 0) return [];
    // IMMEDIATE takes the write lock up front, so two processes cannot pick the same ids.
    return this.claimTx.immediate(owner, limit, leaseMs, nowMs);
  }

  heartbeat(
    leases: Array<{ taskId: string; leaseToken: string }>,
    leaseMs: number,
    nowMs: number,
  ): { lost: string[]; cancelRequested: string[] } {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    return this.heartbeatTx(leases, nowMs + leaseMs, nowMs);
  }

  progress(taskId: string, leaseToken: string, progress: number, nowMs: number): boolean {
    return (
      this.sql.progress.run({ id: taskId, token: leaseToken, progress, now: nowMs }).changes === 1
    );
  }
}
