/**
 * Task reads on a connection of their own, sharing one read snapshot per turn of the
 * event loop.
 *
 * Why: in WAL mode every autocommit read starts and ends a read transaction, which
 * takes and drops a read mark in the `-shm` file with two `fcntl` calls. On a poll that
 * was about a third of the read and, under load, more than the B-tree lookup itself
 * (BENCHMARKS.md). Reads in the same turn share one transaction instead.
 *
 * What a reader sees: the database as it was at the first read of the current turn,
 * and never older than the last write this process made. The snapshot ends
 *  - at the end of the turn (setImmediate), so every new turn reads afresh, and
 *  - as soon as this process writes: the connection (connection.ts) calls `release()`
 *    after every write it makes and whenever a batch of submissions is over, before
 *    anyone is told about it.
 * So a client never reads something older than what it has been told: an answer is
 * only sent after the write it reports has released the snapshot, and a request sent
 * after receiving an answer arrives in a later turn. A commit by another process on the
 * same file is seen from the next turn on, microseconds to milliseconds later.
 *
 * Snapshots are monotonic: each one starts after the previous one ended, so a task's
 * status, as polled, still never moves backwards.
 */
import type Database from "better-sqlite3";
import { openSqlite } from "./open.js";

export class SnapshotReader {
  private readonly db: Database.Database;
  private readonly begin: Database.Statement;
  private readonly end: Database.Statement;
  private open = false;
  private readonly endOfTurn = () => this.release();

  constructor(file: string) {
    this.db = openSqlite(file);
    // Reads only: writes go through the connection (connection.ts), which ends snapshots.
    this.db.pragma("query_only = ON");
    this.begin = this.db.prepare("BEGIN");
    this.end = this.db.prepare("COMMIT");
  }

  /** A statement on this connection; run it through `get()`. */
  prepare(sql: string): Database.Statement {
    return this.db.prepare(sql);
  }

  /** `stmt.get(...params)` (a statement from `prepare()`) in this turn's snapshot. */
  get(stmt: Database.Statement, ...params: unknown[]): unknown {
    if (!this.open) {
      this.begin.run();
      this.open = true;
      setImmediate(this.endOfTurn);
    }
    try {
      return stmt.get(...params);
    } catch (e) {
      // Whatever went wrong, the next read starts from a clean transaction.
      this.release();
      throw e;
    }
  }

  /** Ends the current snapshot (if any): the next read sees the latest commit. */
  release(): void {
    if (!this.open) return;
    this.open = false;
    this.end.run();
  }

  close(): void {
    this.release();
    this.db.close();
  }
}
