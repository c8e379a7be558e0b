/**
 * The PostgreSQL schema: the same tables, columns and meanings as the SQLite schema
 * (store/migrations, 001–004), written once in its final form because a PostgreSQL
 * database has no history to replay. Column names and value encodings match SQLite's
 * (flags are 0/1 integers, JSON is text, times are unix milliseconds, money is integer
 * micro-credits in BIGINT) so both backends share one row mapping (store/rows.ts).
 *
 * Applied steps are never edited: add a step by appending to PG_STEPS (migrate.ts).
 *
 * Differences that matter:
 * - `task_counts` is kept by PL/pgSQL triggers in the same transaction as every task
 *   insert, status change and delete, like SQLite's triggers (see 004_listing.ts), but
 *   per statement (COUNT_FUNCTION says why).
 * - Keyset indexes are the same two (account_id, created_ms, id) and (account_id,
 *   status, model, created_ms, id); PostgreSQL walks them backwards for newest first.
 * - Claims use `FOR UPDATE SKIP LOCKED` over the partial indexes tasks_pending and
 *   tasks_leases, so many workers claim without waiting on each other.
 */
/**
 * task_counts is kept per statement, not per row: the statement's changes (its
 * transition tables) are summed per (account, model, status) and applied in key
 * order. A claim that moves tasks of several models thus locks their count rows in
 * one order, as every other statement does, so two claims cannot deadlock on them; a
 * statement that changes no status (heartbeats, progress) sums to nothing and writes
 * nothing; a bulk change writes each count row once.
 */
const CHANGES = `SELECT account_id, model, status, sum(delta) AS delta FROM (
        SELECT account_id, model, status, -1 AS delta FROM old_rows
        UNION ALL
        SELECT account_id, model, status, 1 FROM new_rows) AS changes
      GROUP BY account_id, model, status HAVING sum(delta) <> 0`;
const REMOVED = `SELECT account_id, model, status, -count(*) AS delta FROM old_rows
      GROUP BY account_id, model, status`;

/** Locks the existing count rows a change touches, in key order, then applies it. */
function applyCounts(changes: string): string {
  return `
    PERFORM 1 FROM task_counts AS c JOIN (${changes}) AS d USING (account_id, model, status)
      ORDER BY c.account_id, c.model, c.status FOR UPDATE OF c;
    UPDATE task_counts AS c SET n = c.n + d.delta FROM (${changes}) AS d
      WHERE d.delta < 0 AND c.account_id = d.account_id AND c.model = d.model AND c.status = d.status;
    INSERT INTO task_counts AS c (account_id, model, status, n)
      SELECT account_id, model, status, delta FROM (${changes}) AS d WHERE delta > 0
      ORDER BY account_id, model, status
      ON CONFLICT (account_id, model, status) DO UPDATE SET n = c.n + excluded.n;`;
}

const COUNT_FUNCTION = `
CREATE FUNCTION darkroom_task_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO task_counts AS c (account_id, model, status, n)
      SELECT account_id, model, status, count(*) FROM new_rows
      GROUP BY account_id, model, status ORDER BY account_id, model, status
      ON CONFLICT (account_id, model, status) DO UPDATE SET n = c.n + excluded.n;
  ELSIF TG_OP = 'DELETE' THEN${applyCounts(REMOVED)}
  ELSE
    -- Most updates (heartbeats, progress, channel marks) move no task between counts.
    IF NOT EXISTS (SELECT 1 FROM old_rows AS o JOIN new_rows AS n USING (id)
        WHERE o.status <> n.status OR o.model <> n.model OR o.account_id <> n.account_id) THEN
      RETURN NULL;
    END IF;${applyCounts(CHANGES)}
  END IF;
  RETURN NULL;
END
$$`;

export const initial: string[] = [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,

  `CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    multiplier_ppm BIGINT NOT NULL CHECK (multiplier_ppm >= 0),
    created_ms BIGINT NOT NULL
  )`,

  `CREATE TABLE model_prices (
    model TEXT PRIMARY KEY,
    price_micros BIGINT NOT NULL CHECK (price_micros >= 0),
    updated_ms BIGINT NOT NULL
  )`,

  `CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    group_name TEXT NOT NULL REFERENCES groups(name),
    balance_micros BIGINT NOT NULL DEFAULT 0,
    held_micros BIGINT NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    used_micros BIGINT NOT NULL DEFAULT 0,
    webhook_secret TEXT NOT NULL,
    disabled_ms BIGINT,
    created_ms BIGINT NOT NULL
  )`,
  `CREATE INDEX accounts_created ON accounts (created_ms, id)`,

  `CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    allowed_models TEXT,
    credit_limit_micros BIGINT,
    held_micros BIGINT NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    used_micros BIGINT NOT NULL DEFAULT 0,
    rpm_limit INTEGER,
    max_concurrent INTEGER,
    active_tasks INTEGER NOT NULL DEFAULT 0 CHECK (active_tasks >= 0),
    expires_s BIGINT,
    revoked_ms BIGINT,
    created_ms BIGINT NOT NULL
  )`,
  `CREATE INDEX api_keys_account ON api_keys (account_id)`,

  `CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    api_key_id TEXT NOT NULL REFERENCES api_keys(id),
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    request TEXT NOT NULL,
    n INTEGER NOT NULL,
    user_group TEXT NOT NULL,
    price_micros BIGINT NOT NULL,
    multiplier_ppm BIGINT NOT NULL,
    credits_reserved_micros BIGINT NOT NULL,
    credits_used_micros BIGINT,
    estimated_s INTEGER NOT NULL,
    results TEXT,
    error_code TEXT,
    error_message TEXT,
    callback_url TEXT,
    cancel_requested SMALLINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_ms BIGINT,
    created_s BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    updated_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    channel_id TEXT,
    cancellable SMALLINT NOT NULL DEFAULT 1
  )`,
  `CREATE INDEX tasks_pending ON tasks (run_after_ms) WHERE status = 'pending'`,
  `CREATE INDEX tasks_leases ON tasks (lease_expires_ms) WHERE status = 'processing'`,
  `CREATE INDEX tasks_finished ON tasks (model, finished_ms DESC) WHERE status = 'completed'`,
  `CREATE INDEX tasks_account_list ON tasks (account_id, created_ms, id)`,
  `CREATE INDEX tasks_account_status_model ON tasks (account_id, status, model, created_ms, id)`,

  `CREATE TABLE task_counts (
    account_id TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, model, status)
  )`,
  COUNT_FUNCTION,
  `CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION darkroom_task_counts()`,
  `CREATE TRIGGER task_counts_update AFTER UPDATE ON tasks
     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION darkroom_task_counts()`,
  `CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE FUNCTION darkroom_task_counts()`,

  `CREATE TABLE ledger_entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    api_key_id TEXT,
    task_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'adjust', 'reserve', 'capture', 'release')),
    amount_micros BIGINT NOT NULL,
    balance_after_micros BIGINT NOT NULL,
    held_after_micros BIGINT NOT NULL,
    reason TEXT,
    created_ms BIGINT NOT NULL
  )`,
  `CREATE UNIQUE INDEX ledger_task_once ON ledger_entries (task_id, kind) WHERE task_id IS NOT NULL`,
  `CREATE INDEX ledger_account ON ledger_entries (account_id, id)`,

  `CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    task_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, idem_key)
  )`,

  `CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    attempt_base INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_expires_ms BIGINT,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_ms BIGINT,
    updated_ms BIGINT
  )`,
  `CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_ms) WHERE status = 'pending'`,
  `CREATE INDEX webhook_outbox_account_status ON webhook_outbox (account_id, status, created_ms, id)`,
  `CREATE INDEX webhook_outbox_status_list ON webhook_outbox (status, created_ms, id)`,

  `CREATE TABLE webhook_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id TEXT NOT NULL REFERENCES webhook_outbox(id),
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    error_kind TEXT,
    error_message TEXT,
    created_ms BIGINT NOT NULL,
    UNIQUE (outbox_id, attempt)
  )`,

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
    timeout_ms BIGINT NOT NULL,
    enabled SMALLINT NOT NULL DEFAULT 1,
    options TEXT NOT NULL DEFAULT '{}',
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
  )`,
  `CREATE INDEX channels_model ON channels (model)`,
  // Retention (retention/janitor.ts): idempotency keys go with their task.
  `CREATE INDEX idempotency_task ON idempotency_keys (task_id)`,

  // Shared across processes (store/migrations/006_cluster.ts): a channel's live calls,
  // and its breaker as last written by any process.
  `CREATE INDEX tasks_channel_busy ON tasks (channel_id, lease_expires_ms) WHERE status = 'processing'`,
  `CREATE TABLE channel_breakers (
    channel_id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    consecutive_failures INTEGER NOT NULL,
    open_until_ms BIGINT NOT NULL,
    probing SMALLINT NOT NULL,
    updated_ms BIGINT NOT NULL
  )`,
  // Per-key request counts shared by the API processes (007_rates.ts).
  `CREATE TABLE rate_windows (
    key_id TEXT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (key_id, window_start_ms)
  )`,
  // Tasks waiting per model (008_queue.ts), kept in the same transaction as every move.
  `CREATE TABLE model_queue (model TEXT PRIMARY KEY, pending BIGINT NOT NULL CHECK (pending >= 0))`,
  `CREATE FUNCTION darkroom_model_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'pending'
     AND (TG_OP = 'DELETE' OR NEW.status <> 'pending' OR NEW.model <> OLD.model) THEN
    UPDATE model_queue SET pending = pending - 1 WHERE model = OLD.model;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'pending'
     AND (TG_OP = 'INSERT' OR OLD.status <> 'pending' OR NEW.model <> OLD.model) THEN
    INSERT INTO model_queue (model, pending) VALUES (NEW.model, 1)
      ON CONFLICT (model) DO UPDATE SET pending = model_queue.pending + 1;
  END IF;
  RETURN NULL;
END
$$`,
  `CREATE TRIGGER model_queue_moves AFTER INSERT OR DELETE OR UPDATE OF model, status ON tasks
     FOR EACH ROW EXECUTE FUNCTION darkroom_model_queue()`,
];
