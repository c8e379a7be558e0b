/**
 * Webhook delivery bookkeeping, on top of the `webhook_outbox` table of 001 (whose
 * rows the finisher writes in the same transaction as a task's terminal move).
 *
 * Outbox row life: `pending` (due at `next_attempt_ms`) → claimed by a dispatcher with
 * a lease (`lease_token`, `lease_expires_ms`; the status stays `pending`, so a lapsed
 * lease makes the row claimable again) → `delivered` or, after the last attempt of the
 * schedule, `failed`. `attempt_base` lets an operator re-queue a failed row: the
 * schedule counts `attempts - attempt_base`, while attempt numbers keep growing so the
 * history in `webhook_attempts` stays unique and complete.
 *
 * Every attempt (successful, failed, blocked) is one `webhook_attempts` row.
 */
export const webhooks: string[] = [
  `ALTER TABLE webhook_outbox ADD COLUMN attempt_base INTEGER NOT NULL DEFAULT 0`,
  `ALTER TABLE webhook_outbox ADD COLUMN lease_token TEXT`,
  `ALTER TABLE webhook_outbox ADD COLUMN lease_expires_ms INTEGER`,
  `ALTER TABLE webhook_outbox ADD COLUMN last_status_code INTEGER`,
  `ALTER TABLE webhook_outbox ADD COLUMN last_error TEXT`,
  `ALTER TABLE webhook_outbox ADD COLUMN delivered_ms INTEGER`,
  `ALTER TABLE webhook_outbox ADD COLUMN updated_ms INTEGER`,
  `CREATE INDEX webhook_outbox_account ON webhook_outbox (account_id, created_ms DESC)`,
  `CREATE INDEX webhook_outbox_status ON webhook_outbox (status, created_ms DESC)`,

  `CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id TEXT NOT NULL REFERENCES webhook_outbox(id),
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error_kind TEXT,
    error_message TEXT,
    created_ms INTEGER NOT NULL,
    UNIQUE (outbox_id, attempt)
  )`,
];
