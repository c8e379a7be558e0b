/**
 * The initial schema (SQLite). Money is integer micro-credits; times are unix
 * milliseconds except `created_s`, the public `created` in unix seconds. Applied
 * steps are never edited: an existing database already ran them.
 *
 * The ledger is append-only and carries a unique (task_id, kind) for task movements:
 * the database itself refuses a second reserve, capture or release for one task.
 */
export const initial: string[] = [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,

  `CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    multiplier_ppm INTEGER NOT NULL CHECK (multiplier_ppm >= 0),
    created_ms INTEGER NOT NULL
  )`,

  `CREATE TABLE model_prices (
    model TEXT PRIMARY KEY,
    price_micros INTEGER NOT NULL CHECK (price_micros >= 0),
    updated_ms INTEGER NOT NULL
  )`,

  `CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    group_name TEXT NOT NULL REFERENCES groups(name),
    balance_micros INTEGER NOT NULL DEFAULT 0,
    held_micros INTEGER NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    used_micros INTEGER NOT NULL DEFAULT 0,
    webhook_secret TEXT NOT NULL,
    disabled_ms INTEGER,
    created_ms INTEGER NOT NULL
  )`,

  `CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    allowed_models TEXT,
    credit_limit_micros INTEGER,
    held_micros INTEGER NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    used_micros INTEGER NOT NULL DEFAULT 0,
    rpm_limit INTEGER,
    max_concurrent INTEGER,
    active_tasks INTEGER NOT NULL DEFAULT 0 CHECK (active_tasks >= 0),
    expires_s INTEGER,
    revoked_ms INTEGER,
    created_ms INTEGER NOT NULL
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
    price_micros INTEGER NOT NULL,
    multiplier_ppm INTEGER NOT NULL,
    credits_reserved_micros INTEGER NOT NULL,
    credits_used_micros INTEGER,
    estimated_s INTEGER NOT NULL,
    results TEXT,
    error_code TEXT,
    error_message TEXT,
    callback_url TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after_ms INTEGER NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_ms INTEGER,
    created_s INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    updated_ms INTEGER NOT NULL,
    finished_ms INTEGER
  )`,
  `CREATE INDEX tasks_account_created ON tasks (account_id, created_ms DESC)`,
  `CREATE INDEX tasks_pending ON tasks (run_after_ms) WHERE status = 'pending'`,
  `CREATE INDEX tasks_leases ON tasks (lease_expires_ms) WHERE status = 'processing'`,
  `CREATE INDEX tasks_finished ON tasks (model, finished_ms DESC) WHERE status = 'completed'`,

  `CREATE TABLE ledger_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    api_key_id TEXT,
    task_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'adjust', 'reserve', 'capture', 'release')),
    amount_micros INTEGER NOT NULL,
    balance_after_micros INTEGER NOT NULL,
    held_after_micros INTEGER NOT NULL,
    reason TEXT,
    created_ms INTEGER NOT NULL
  )`,
  `CREATE UNIQUE INDEX ledger_task_once ON ledger_entries (task_id, kind) WHERE task_id IS NOT NULL`,
  `CREATE INDEX ledger_account ON ledger_entries (account_id, id)`,

  `CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    task_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, idem_key)
  )`,

  `CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (task_id)
  )`,
  `CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_ms) WHERE status = 'pending'`,
];
