/**
 * What the operator's console reads (issue 15): each task's trail, indexes for listing
 * every account's tasks, and a per-minute rollup for its activity charts.
 *
 * task_attempts: a task's claims, upstream calls (channel, start, end, outcome, error
 * code), hand-backs and the runner's sight of a cancel. The runner keeps them in memory
 * while it holds the task and writes them in the finish or hand-back that ends its
 * claim, in that same transaction: recording them adds no commit to a task (issue 13's
 * write budget). A claim that ends in a crash leaves no trail; its task's next claim
 * does. Keyed by task, so a task's trail is one range of the primary key and retention
 * deletes it with the task.
 *
 * Listing indexes, (filter columns, created_ms, id) like 004's, for a listing that is
 * not scoped to one account (store/operator-tasks.ts says which filter walks which):
 * tasks_created_list, tasks_status_model_list and tasks_channel_list. Each costs bytes
 * per task and a little time per write; fewer would turn some filters into scans.
 *
 * task_minutes: per minute, how many tasks were submitted, completed and failed and
 * the credits they used, kept by triggers in the same transaction as the insert or the
 * terminal move (like task_counts, 004: no write path can forget it, no commit is
 * added). The stats read the window's rows, at most 1,440, never the tasks. `writer`
 * is 0 here (one writer); PostgreSQL keys its rows by connection too, so concurrent
 * transactions never wait on one minute's row (postgres/task-attempts.ts).
 *
 * Backfilled from the last day's tasks (through the new tasks_created_list); it can run
 * again (IF NOT EXISTS, the rollup rebuilt).
 */
const MINUTE = (ms: string) => `CAST(${ms} / 60000 AS INTEGER) * 60`;

export const taskAttempts: string[] = [
  `CREATE TABLE IF NOT EXISTS task_attempts (
    task_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ended_ms INTEGER,
    channel_id TEXT,
    outcome TEXT,
    error_code TEXT,
    PRIMARY KEY (task_id, at_ms, seq)
  ) WITHOUT ROWID`,

  `CREATE INDEX IF NOT EXISTS tasks_created_list ON tasks (created_ms, id)`,
  `CREATE INDEX IF NOT EXISTS tasks_status_model_list ON tasks (status, model, created_ms, id)`,
  `CREATE INDEX IF NOT EXISTS tasks_channel_list ON tasks (channel_id, created_ms, id)`,

  `CREATE TABLE IF NOT EXISTS task_minutes (
    minute_s INTEGER NOT NULL,
    writer INTEGER NOT NULL DEFAULT 0,
    submitted INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    credits_used_micros INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute_s, writer)
  ) WITHOUT ROWID`,
  `CREATE TRIGGER IF NOT EXISTS task_minutes_submitted AFTER INSERT ON tasks BEGIN
     INSERT INTO task_minutes (minute_s, writer, submitted) VALUES (${MINUTE("NEW.created_ms")}, 0, 1)
       ON CONFLICT (minute_s, writer) DO UPDATE SET submitted = submitted + 1;
   END`,
  // Only the move into a terminal status: claims, heartbeats and progress pay nothing.
  `CREATE TRIGGER IF NOT EXISTS task_minutes_finished AFTER UPDATE OF status ON tasks
     WHEN NEW.status IN ('completed', 'failed') AND OLD.status NOT IN ('completed', 'failed')
   BEGIN
     INSERT INTO task_minutes (minute_s, writer, completed, failed, credits_used_micros)
       VALUES (${MINUTE("COALESCE(NEW.finished_ms, NEW.updated_ms)")}, 0, NEW.status = 'completed',
         NEW.status = 'failed', COALESCE(NEW.credits_used_micros, 0))
       ON CONFLICT (minute_s, writer) DO UPDATE SET completed = completed + excluded.completed,
         failed = failed + excluded.failed,
         credits_used_micros = credits_used_micros + excluded.credits_used_micros;
   END`,
  `DELETE FROM task_minutes`,
  `INSERT INTO task_minutes (minute_s, writer, submitted)
     SELECT ${MINUTE("created_ms")} AS m, 0, COUNT(*) FROM tasks
     WHERE created_ms >= (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000 GROUP BY m`,
  `INSERT INTO task_minutes (minute_s, writer, completed, failed, credits_used_micros)
     SELECT ${MINUTE("finished_ms")} AS m, 0, SUM(status = 'completed'), SUM(status = 'failed'),
       SUM(COALESCE(credits_used_micros, 0)) FROM tasks
     WHERE created_ms >= (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000
       AND status IN ('completed', 'failed') AND finished_ms IS NOT NULL
     GROUP BY m
     ON CONFLICT (minute_s, writer) DO UPDATE SET completed = completed + excluded.completed,
       failed = failed + excluded.failed,
       credits_used_micros = credits_used_micros + excluded.credits_used_micros`,
];
