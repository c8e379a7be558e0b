/**
 * The per-model queue count (issue 14): how many tasks of each model are `pending`,
 * waiting for a channel. A submission reads its model's row to refuse one past the
 * queue's depth and to estimate the wait, in O(1), on every backend and across every
 * process sharing the database — never a COUNT over tasks on the hot path.
 *
 * Kept exact the way 004 keeps `task_counts`: triggers, in the same transaction as every
 * insert, status change and delete of a task, whoever writes it (submissions, claims,
 * cancels, expiry, another process). The WHEN clauses fire them only when a task enters
 * or leaves `pending` (or, never in practice, changes model), so finishes, heartbeats
 * and progress writes pay nothing. A task handed back by the runner (releaseTask) stays
 * `processing` and is not counted: it is claimed again first, at its turn.
 *
 * Like 004, the step can run again (IF NOT EXISTS, the counts rebuilt from scratch).
 */
const ENTER = (row: "NEW" | "OLD") =>
  `INSERT INTO model_queue (model, pending) VALUES (${row}.model, 1)
     ON CONFLICT (model) DO UPDATE SET pending = pending + 1;`;
const LEAVE = (row: "NEW" | "OLD") =>
  `UPDATE model_queue SET pending = pending - 1 WHERE model = ${row}.model;`;

export const queue: string[] = [
  // One row per model ever queued: a handful, kept at 0 when the queue empties.
  `CREATE TABLE IF NOT EXISTS model_queue (
    model TEXT PRIMARY KEY,
    pending INTEGER NOT NULL CHECK (pending >= 0)
  ) WITHOUT ROWID`,
  `CREATE TRIGGER IF NOT EXISTS model_queue_insert AFTER INSERT ON tasks
     WHEN NEW.status = 'pending'
   BEGIN ${ENTER("NEW")} END`,
  `CREATE TRIGGER IF NOT EXISTS model_queue_leave AFTER UPDATE OF model, status ON tasks
     WHEN OLD.status = 'pending' AND (NEW.status IS NOT 'pending' OR NEW.model IS NOT OLD.model)
   BEGIN ${LEAVE("OLD")} END`,
  `CREATE TRIGGER IF NOT EXISTS model_queue_enter AFTER UPDATE OF model, status ON tasks
     WHEN NEW.status = 'pending' AND (OLD.status IS NOT 'pending' OR NEW.model IS NOT OLD.model)
   BEGIN ${ENTER("NEW")} END`,
  `CREATE TRIGGER IF NOT EXISTS model_queue_delete AFTER DELETE ON tasks
     WHEN OLD.status = 'pending'
   BEGIN ${LEAVE("OLD")} END`,
  `DELETE FROM model_queue`,
  `INSERT INTO model_queue (model, pending)
     SELECT model, COUNT(*) FROM tasks WHERE status = 'pending' GROUP BY model`,
];
