/**
 * Retention on SQLite: deleting old finished tasks, a batch per write. Run inside a
 * write batch's transaction (write-batch.ts), on the writer thread, so a purge never
 * holds the event loop.
 *
 * The oldest tasks are found on the primary key (idsCreatedBefore, rows.ts): no index on
 * creation time is needed for it.
 */
import type { Database, Statement } from "better-sqlite3";
import { idsCreatedBefore, minutesBefore } from "../rows.js";

export class SqliteRetention {
  private readonly sql: Record<
    "pick" | "attempts" | "outbox" | "idempotency" | "trail" | "tasks" | "minutes",
    Statement
  >;

  constructor(db: Database) {
    this.sql = {
      // A callback still being delivered keeps its task (and its row) for now. `+status`:
      // no index on the status may serve this walk (the planner, without statistics,
      // would take tasks_status_model_list and sort every finished task).
      pick: db.prepare(
        `SELECT id FROM tasks
         WHERE id < ? AND +status IN ('completed', 'failed')
           AND NOT EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.task_id = tasks.id AND o.status = 'pending')
         ORDER BY id LIMIT ?`,
      ),
      attempts: db.prepare(
        `DELETE FROM webhook_attempts WHERE outbox_id IN (SELECT id FROM webhook_outbox WHERE task_id = ?)`,
      ),
      outbox: db.prepare(`DELETE FROM webhook_outbox WHERE task_id = ?`),
      idempotency: db.prepare(`DELETE FROM idempotency_keys WHERE task_id = ?`),
      trail: db.prepare(`DELETE FROM task_attempts WHERE task_id = ?`),
      tasks: db.prepare(`DELETE FROM tasks WHERE id = ?`),
      // The activity rollup (migration 010): a day longer than the tasks it counts, so the
      // stats' longest window stays whole whatever the retention.
      minutes: db.prepare(`DELETE FROM task_minutes WHERE minute_s < ?`),
    };
  }

  /** Deletes up to `limit` finished tasks created before `createdBeforeMs`; how many. */
  purge(createdBeforeMs: number, limit: number): number {
    const bound = idsCreatedBefore(createdBeforeMs);
    const ids = (this.sql.pick.all(bound, limit) as Array<{ id: string }>).map((r) => r.id);
    for (const id of ids) {
      this.sql.attempts.run(id);
      this.sql.outbox.run(id);
      this.sql.idempotency.run(id);
      this.sql.trail.run(id);
      this.sql.tasks.run(id);
    }
    this.sql.minutes.run(minutesBefore(createdBeforeMs));
    return ids.length;
  }
}
