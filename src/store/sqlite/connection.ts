/**
 * The process's one SQLite connection, and everything that keeps what it reads fresh:
 * whose turn it is to write, the writes themselves, and the polls' read snapshot.
 *
 * - Group commit: the hot paths' writes (submissions, the runner's, cancels, webhook
 *   deliveries') are queued
 *   with `submit()`/`enqueue()` and written in batches on a writer thread (writer.ts).
 * - Turns: every other write on this connection waits until no batch is being written,
 *   so it never meets the thread's lock (whose busy handler would put the whole event
 *   loop to sleep).
 * - Other writes go through `write()`, which waits for the turn, runs the (synchronous)
 *   statements and then ends the poll snapshot. Statements are prepared up front with
 *   `prepare()`/`transaction()`; running a write statement anywhere but inside `write()`
 *   would let a poll read older data than this process has already reported, so nothing
 *   else may.
 * - The snapshot: polls read in one snapshot per event-loop turn (snapshot-reader.ts).
 *   It ends after every `write()` and whenever a batch of submissions is over (on the
 *   thread or inline), before anyone is told about it: read-your-own-writes holds.
 */
import type Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { migrateToLatest } from "../migrations/index.js";
import type { SubmitInput, SubmitResult } from "../store.js";
import { openSqlite } from "./open.js";
import { SnapshotReader } from "./snapshot-reader.js";
import type { WriteOp, WriteOpOf, WriteResults } from "./write-batch.js";
import { SqliteWriter } from "./writer.js";

export interface SqliteConnectionOptions {
  /** false: write batches inline on this connection (default: on a writer thread). */
  writerThread?: boolean;
  /** Told when the writer thread fails; writes carry on inline. */
  onWriterThreadError?: (err: Error) => void;
}

export class SqliteConnection {
  private readonly db: Database.Database;
  /** Polls share a snapshot per event-loop turn; none for ":memory:" (no second connection). */
  private readonly snapshot: SnapshotReader | null;
  private writer: SqliteWriter | null = null;

  constructor(
    readonly file: string,
    private readonly opts: SqliteConnectionOptions = {},
  ) {
    this.db = openSqlite(file);
    this.snapshot = file === ":memory:" ? null : new SnapshotReader(file);
  }

  /** Brings the schema up to date and starts the writer thread; then ready to write. */
  async open(): Promise<void> {
    const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: this.db }) });
    // Kysely's SqliteDialect closes the database on destroy(), so it is not destroyed here.
    try {
      await migrateToLatest(kysely);
    } finally {
      this.endSnapshot();
    }
    this.writer = new SqliteWriter(this.db, {
      threadFile: this.file !== ":memory:" && this.opts.writerThread !== false ? this.file : null,
      onThreadError: this.opts.onWriterThreadError,
      onBatchOver: () => this.endSnapshot(),
    });
    // Ready means ready to write: writes do not queue behind the thread's start.
    await this.writer.ready;
  }

  /** A statement on this connection: reads run it as they please, writes only in `write()`. */
  prepare(sql: string): Database.Statement {
    return this.db.prepare(sql);
  }

  /** A transaction function on this connection; like a write statement, run it in `write()`. */
  transaction<F extends Parameters<Database.Database["transaction"]>[0]>(
    fn: F,
  ): Database.Transaction<F> {
    return this.db.transaction(fn);
  }

  /**
   * Runs `fn` (synchronous statements on this connection) once this connection may
   * write, then ends the poll snapshot so that every later read sees what it wrote.
   */
  async write<T>(fn: () => T): Promise<T> {
    await this.turn();
    try {
      return fn();
    } finally {
      this.endSnapshot();
    }
  }

  /** A statement for `readInSnapshot()` (on the snapshot's connection when there is one). */
  prepareSnapshotRead(sql: string): Database.Statement {
    return (this.snapshot ?? this.db).prepare(sql);
  }

  /** `stmt.get(...params)` in this turn's snapshot (stmt from `prepareSnapshotRead()`). */
  readInSnapshot(stmt: Database.Statement, ...params: unknown[]): unknown {
    return this.snapshot ? this.snapshot.get(stmt, ...params) : stmt.get(...params);
  }

  /** Group-committed, on the writer thread when there is one (writer.ts). */
  submit(input: SubmitInput): Promise<SubmitResult> {
    return this.opened.submit(input);
  }

  /** A hot-path write, group-committed like submissions (writer.ts). */
  enqueue<K extends Exclude<WriteOp["kind"], "submit">>(
    op: WriteOpOf<K>,
  ): Promise<WriteResults[K]> {
    return this.opened.write(op);
  }

  /** Whether batches are written on the writer thread (false: inline). */
  get writerThreaded(): boolean {
    return this.writer?.threaded ?? false;
  }

  async close(): Promise<void> {
    await this.writer?.close();
    this.snapshot?.close();
    this.db.close();
  }

  private get opened(): SqliteWriter {
    if (!this.writer) throw new Error("store used before it was opened");
    return this.writer;
  }

  /** Resolves when this connection may write without meeting the writer thread's lock. */
  private turn(): Promise<void> {
    return this.writer ? this.writer.turn() : Promise.resolve();
  }

  private endSnapshot(): void {
    this.snapshot?.release();
  }
}
