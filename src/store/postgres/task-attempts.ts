/**
 * PostgreSQL step 004: the console's task trail, listing indexes and per-minute
 * rollup, as SQLite's migration 010 (010_task_attempts.ts says what each is for).
 *
 * One difference: task_minutes has a row per minute *and connection*
 * (`writer = pg_backend_pid()`). With one row per minute, every submission and finish
 * of every process would queue on that row's lock until its transaction commits, and
 * the row, locked last in transactions that lock rows in different orders (a
 * submission batch takes model_queue rows after inserting tasks), could close a
 * deadlock. A connection runs one transaction at a time, so its row is never waited
 * for. The stats sum a minute's rows: at most the pools' connections per minute.
 */
export const taskAttempts: string[] = [
  `CREATE TABLE IF NOT EXISTS task_attempts (
    task_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ended_ms BIGINT,
    channel_id TEXT,
    outcome TEXT,
    error_code TEXT,
    PRIMARY KEY (task_id, at_ms, seq)
  )`,

  `CREATE INDEX IF NOT EXISTS tasks_created_list ON tasks (created_ms, id)`,
  `CREATE INDEX IF NOT EXISTS tasks_status_model_list ON tasks (status, model, created_ms, id)`,
  `CREATE INDEX IF NOT EXISTS tasks_channel_list ON tasks (channel_id, created_ms, id)`,

  `CREATE TABLE IF NOT EXISTS task_minutes (
    minute_s BIGINT NOT NULL,
    writer INTEGER NOT NULL DEFAULT 0,
    submitted BIGINT NOT NULL DEFAULT 0,
    completed BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    credits_used_micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute_s, writer)
  )`,
  `CREATE OR REPLACE FUNCTION darkroom_task_minutes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO task_minutes AS m (minute_s, writer, submitted)
      VALUES (NEW.created_ms / 60000 * 60, pg_backend_pid(), 1)
      ON CONFLICT (minute_s, writer) DO UPDATE SET submitted = m.submitted + 1;
  ELSE
    INSERT INTO task_minutes AS m (minute_s, writer, completed, failed, credits_used_micros)
      VALUES (COALESCE(NEW.finished_ms, NEW.updated_ms) / 60000 * 60, pg_backend_pid(),
        (NEW.status = 'completed')::int, (NEW.status = 'failed')::int,
        COALESCE(NEW.credits_used_micros, 0))
      ON CONFLICT (minute_s, writer) DO UPDATE SET completed = m.completed + excluded.completed,
        failed = m.failed + excluded.failed,
        credits_used_micros = m.credits_used_micros + excluded.credits_used_micros;
  END IF;
  RETURN NULL;
END
$$`,
  `CREATE TRIGGER task_minutes_submitted AFTER INSERT ON tasks
     FOR EACH ROW EXECUTE FUNCTION darkroom_task_minutes()`,
  // Only the move into a terminal status: claims, heartbeats and progress pay nothing.
  `CREATE TRIGGER task_minutes_finished AFTER UPDATE OF status ON tasks FOR EACH ROW
     WHEN (NEW.status IN ('completed', 'failed') AND OLD.status NOT IN ('completed', 'failed'))
     EXECUTE FUNCTION darkroom_task_minutes()`,
  `INSERT INTO task_minutes (minute_s, writer, submitted)
     SELECT created_ms / 60000 * 60 AS m, 0, COUNT(*) FROM tasks
     WHERE created_ms >= (extract(epoch FROM now())::bigint - 86400) * 1000 GROUP BY m`,
  `INSERT INTO task_minutes AS t (minute_s, writer, completed, failed, credits_used_micros)
     SELECT finished_ms / 60000 * 60 AS m, 0, COUNT(*) FILTER (WHERE status = 'completed'),
       COUNT(*) FILTER (WHERE status = 'failed'), SUM(COALESCE(credits_used_micros, 0)) FROM tasks
     WHERE created_ms >= (extract(epoch FROM now())::bigint - 86400) * 1000
       AND status IN ('completed', 'failed') AND finished_ms IS NOT NULL
     GROUP BY m
     ON CONFLICT (minute_s, writer) DO UPDATE SET completed = t.completed + excluded.completed,
       failed = t.failed + excluded.failed,
       credits_used_micros = t.credits_used_micros + excluded.credits_used_micros`,
];
