/**
 * Channels defined through the admin API (config-file channels live in the file), and
 * on each task the channel serving it and whether that upstream can still be stopped:
 * `cancellable` drives `task_info.can_cancel` and refuses a cancel (409) once the
 * upstream is past the point it can stop. Secrets are never stored: a channel names an
 * environment variable or a file.
 */
export const channels: string[] = [
  `CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    base_url TEXT,
    api_key_env TEXT,
    api_key_file TEXT,
    upstream_model TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1 CHECK (weight > 0),
    max_concurrency INTEGER NOT NULL CHECK (max_concurrency >= 1),
    timeout_ms INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    options TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  )`,
  `CREATE INDEX channels_model ON channels (model)`,
  `ALTER TABLE tasks ADD COLUMN channel_id TEXT`,
  `ALTER TABLE tasks ADD COLUMN cancellable INTEGER NOT NULL DEFAULT 1`,
  `CREATE INDEX tasks_account_status_created ON tasks (account_id, status, created_ms DESC)`,
];
