/**
 * The initial schema, one statement list per dialect, kept side by side so a reviewer
 * sees both at once. Money is integer micro-credits (BIGINT on PostgreSQL); times are
 * unix milliseconds except `created_s`, the public `created` in unix seconds.
 *
 * The ledger is append-only and carries a unique (task_id, kind) for task movements:
 * the database itself refuses a second reserve, capture or release for one task.
 */
import type { DialectSql } from "./index.js";

const common = (t: { int: string; pk: string; json: string }): string[] => [
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,

  `CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    multiplier_ppm ${t.int} NOT NULL CHECK (multiplier_ppm >= 0),
    created_ms ${t.int} NOT NULL
  )`,

  `CREATE TABLE model_prices (
    model TEXT PRIMARY KEY,
    price_micros ${t.int} NOT NULL CHECK (price_micros >= 0),
    updated_ms ${t.int} NOT NULL
  )`,

  `CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    group_name TEXT NOT NULL REFERENCES groups(name),
    balance_micros ${t.int} NOT NULL DEFAULT 0,
    held_micros ${t.int} NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    used_micros ${t.int} NOT NULL DEFAULT 0,
    webhook_secret TEXT NOT NULL,
    disabled_ms ${t.int},
    created_ms ${t.int} NOT NULL
  )`,

  `CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    allowed_models ${t.json},
    credit_limit_micros ${t.int},
    held_micros ${t.int} NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    used_micros ${t.int} NOT NULL DEFAULT 0,
    rpm_limit ${t.int},
    max_concurrent ${t.int},
    active_tasks ${t.int} NOT NULL DEFAULT 0 CHECK (active_tasks >= 0),
    expires_s ${t.int},
    revoked_ms ${t.int},
    created_ms ${t.int} NOT NULL
  )`,
  `CREATE INDEX api_keys_account ON api_keys (account_id)`,

  `CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    api_key_id TEXT NOT NULL REFERENCES api_keys(id),
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    progress ${t.int} NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    request ${t.json} NOT NULL,
    n ${t.int} NOT NULL,
    user_group TEXT NOT NULL,
    price_micros ${t.int} NOT NULL,
    multiplier_ppm ${t.int} NOT NULL,
    credits_reserved_micros ${t.int} NOT NULL,
    credits_used_micros ${t.int},
    estimated_s ${t.int} NOT NULL,
    results ${t.json},
    error_code TEXT,
    error_message TEXT,
    callback_url TEXT,
    cancel_requested ${t.int} NOT NULL DEFAULT 0,
    attempts ${t.int} NOT NULL DEFAULT 0,
    run_after_ms ${t.int} NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_ms ${t.int},
    created_s ${t.int} NOT NULL,
    created_ms ${t.int} NOT NULL,
    started_ms ${t.int},
    updated_ms ${t.int} NOT NULL,
    finished_ms ${t.int}
  )`,
  `CREATE INDEX tasks_account_created ON tasks (account_id, created_ms DESC)`,
  `CREATE INDEX tasks_pending ON tasks (run_after_ms) WHERE status = 'pending'`,
  `CREATE INDEX tasks_leases ON tasks (lease_expires_ms) WHERE status = 'processing'`,
  `CREATE INDEX tasks_finished ON tasks (model, finished_ms DESC) WHERE status = 'completed'`,

  `CREATE TABLE ledger_entries (
    id ${t.pk},
    account_id TEXT NOT NULL REFERENCES accounts(id),
    api_key_id TEXT,
    task_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'adjust', 'reserve', 'capture', 'release')),
    amount_micros ${t.int} NOT NULL,
    balance_after_micros ${t.int} NOT NULL,
    held_after_micros ${t.int} NOT NULL,
    reason TEXT,
    created_ms ${t.int} NOT NULL
  )`,
  `CREATE UNIQUE INDEX ledger_task_once ON ledger_entries (task_id, kind) WHERE task_id IS NOT NULL`,
  `CREATE INDEX ledger_account ON ledger_entries (account_id, id)`,

  `CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    task_id TEXT NOT NULL,
    created_ms ${t.int} NOT NULL,
    PRIMARY KEY (account_id, idem_key)
  )`,

  `CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts ${t.int} NOT NULL DEFAULT 0,
    next_attempt_ms ${t.int} NOT NULL,
    created_ms ${t.int} NOT NULL,
    UNIQUE (task_id)
  )`,
  `CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_ms) WHERE status = 'pending'`,
];

export const initial: DialectSql = {
  sqlite: common({ int: "INTEGER", pk: "INTEGER PRIMARY KEY AUTOINCREMENT", json: "TEXT" }),
  postgres: common({ int: "BIGINT", pk: "BIGSERIAL PRIMARY KEY", json: "TEXT" }),
};
