/**
 * State every process of a deployment shares about its channels (issue 14: many API
 * and worker processes on one database).
 *
 * - Capacity: a channel's tasks in flight are its `processing` tasks whose lease is
 *   live; `markChannel` counts them before it lets another call start, so
 *   `max_concurrency` holds across processes, and a killed worker's slots free up when
 *   its leases lapse. The index makes that count a walk of the channel's live entries.
 * - Breakers: one row per channel whose breaker left its resting state, written on
 *   every transition and read by every process (channels/router.ts).
 */
export const cluster: string[] = [
  `CREATE INDEX IF NOT EXISTS tasks_channel_busy ON tasks (channel_id, lease_expires_ms) WHERE status = 'processing'`,
  `CREATE TABLE IF NOT EXISTS channel_breakers (
    channel_id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    consecutive_failures INTEGER NOT NULL,
    open_until_ms INTEGER NOT NULL,
    probing INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  )`,
];
