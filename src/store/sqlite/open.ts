/** Opening the SQLite file: the same settings for every connection, on any thread. */
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export function openSqlite(file: string): Database.Database {
  if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // FULL: a commit is fsync'd before it is visible, so an answered write survives power loss.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  // Statement journals (what a SAVEPOINT or a multi-row statement needs to undo itself)
  // stay in memory: as temp files they doubled the cost of every insert.
  db.pragma("temp_store = MEMORY");
  return db;
}
