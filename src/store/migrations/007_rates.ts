/**
 * Per-key request counts shared by every API process, for rpm limits
 * (http/plugins/limiter.ts): one row per key and minute, added to about once a second
 * by each process that saw the key, dropped after two minutes.
 */
export const rates: string[] = [
  `CREATE TABLE IF NOT EXISTS rate_windows (
    key_id TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (key_id, window_start_ms)
  )`,
];
