/**
 * Shared request counts on SQLite (Store.shareRequestCounts): statements run inside a
 * write batch (write-batch.ts), on the writer thread.
 */
import type { Database, Statement } from "better-sqlite3";
import type { RequestCount } from "../store.js";

export class SqliteRates {
  private readonly sql: Record<"add" | "drop" | "read", Statement>;

  constructor(db: Database) {
    this.sql = {
      add: db.prepare(
        `INSERT INTO rate_windows (key_id, window_start_ms, n) VALUES (?, ?, ?)
         ON CONFLICT (key_id, window_start_ms) DO UPDATE SET n = n + excluded.n`,
      ),
      drop: db.prepare(`DELETE FROM rate_windows WHERE window_start_ms < ?`),
      read: db.prepare(`SELECT window_start_ms, n FROM rate_windows WHERE key_id = ?`),
    };
  }

  share(added: readonly RequestCount[], dropBeforeMs: number): RequestCount[] {
    this.sql.drop.run(dropBeforeMs);
    const keys = new Set<string>();
    for (const a of added) {
      keys.add(a.keyId);
      if (a.n > 0 && a.windowStartMs >= dropBeforeMs)
        this.sql.add.run(a.keyId, a.windowStartMs, a.n);
    }
    const totals: RequestCount[] = [];
    for (const keyId of keys)
      for (const r of this.sql.read.all(keyId) as Array<{ window_start_ms: number; n: number }>)
        totals.push({ keyId, windowStartMs: Number(r.window_start_ms), n: Number(r.n) });
    return totals;
  }
}
