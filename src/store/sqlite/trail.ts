/**
 * Writes a claim's trail (task_attempts, migration 010) inside the write batch's
 * transaction, right after the finish or release it belongs to succeeded.
 */
import type { Database, Statement } from "better-sqlite3";
import type { TrailEntry } from "../store.js";
import { TRAIL_COLUMNS, trailValues } from "../trail-rows.js";

export class SqliteTrail {
  private readonly insert: Statement;

  constructor(db: Database) {
    this.insert = db.prepare(
      `INSERT INTO task_attempts (${TRAIL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
  }

  write(taskId: string, trail: readonly TrailEntry[] | undefined): void {
    if (!trail) return;
    for (const values of trailValues(taskId, trail)) this.insert.run(...values);
  }
}
