/**
 * Retention (retention/janitor.ts) deletes old tasks with their idempotency keys, found
 * by task id. Idempotency keys are few (only submissions that send one), so the index
 * costs little.
 */
export const retention: string[] = [
  `CREATE INDEX IF NOT EXISTS idempotency_task ON idempotency_keys (task_id)`,
];
