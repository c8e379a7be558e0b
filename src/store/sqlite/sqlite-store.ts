/**
 * The embedded backend: one SQLite file (better-sqlite3, WAL) in the data dir.
 *
 * better-sqlite3 is synchronous, which on SQLite is a feature: a statement is a few
 * microseconds, far less than hopping to a thread pool. Durability: WAL with
 * `synchronous=FULL`, so an answered submission survives power loss; group commit on a
 * writer thread (submit.ts) keeps that affordable. Every other write on this connection
 * first waits for its turn (`turn()`), so it never meets the writer thread's lock.
 */
import type Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { migrateToLatest } from "../migrations/index.js";
import type {
  AccountBalance,
  BootstrapInput,
  CancelResult,
  ClaimedTask,
  CreditsView,
  KeyPrincipal,
  Store,
  SubmitInput,
  SubmitResult,
  TaskListQuery,
  TaskOutcome,
  TaskView,
} from "../store.js";
import { SqliteLeases } from "./claim.js";
import { SqliteFinisher } from "./finish.js";
import { openSqlite } from "./open.js";
import { principalFromRow, TASK_VIEW_COLUMNS, viewFromRaw, type KeyRow } from "./rows.js";
import { SnapshotReader, trackWrites } from "./snapshot-reader.js";
import { SqliteSubmitter } from "./submit.js";
import { whereEquals } from "./where.js";

export interface SqliteStoreOptions {
  /** false: write submissions inline on the main connection (default: on a writer thread). */
  writerThread?: boolean;
  /** Told when the writer thread fails; submissions carry on inline. */
  onWriterThreadError?: (err: Error) => void;
}

const GET_TASK = `SELECT ${TASK_VIEW_COLUMNS} FROM tasks WHERE id = ? AND account_id = ?`;

export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  private readonly db: Database.Database;
  /** Task reads (polls) share a snapshot per event-loop turn; none for ":memory:". */
  private readonly reader: SnapshotReader | null;
  private parts: {
    submitter: SqliteSubmitter;
    leases: SqliteLeases;
    finisher: SqliteFinisher;
    /** On the snapshot reader's connection when there is one, else on the main one. */
    getTask: Database.Statement;
    findKey: Database.Statement;
    balance: Database.Statement;
  } | null = null;

  constructor(
    private readonly file: string,
    private readonly opts: SqliteStoreOptions = {},
  ) {
    this.db = openSqlite(file);
    const reader = file === ":memory:" ? null : new SnapshotReader(file);
    this.reader = reader;
    // Every write this process makes is seen by the next read (snapshot-reader.ts).
    if (reader) trackWrites(this.db, () => reader.release());
  }

  async migrate(): Promise<void> {
    const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: this.db }) });
    // Kysely's SqliteDialect closes the database on destroy(), so it is not destroyed here.
    await migrateToLatest(kysely, "sqlite");
    this.prepare();
    // Ready means ready to write: submissions do not queue behind the thread's start.
    await this.p.submitter.ready;
  }

  private prepare(): void {
    const db = this.db;
    this.parts = {
      submitter: new SqliteSubmitter(db, {
        threadFile: this.file !== ":memory:" && this.opts.writerThread !== false ? this.file : null,
        onThreadError: this.opts.onWriterThreadError,
        onCommitted: () => this.reader?.release(),
      }),
      leases: new SqliteLeases(db),
      finisher: new SqliteFinisher(db),
      getTask: (this.reader ?? db).prepare(GET_TASK).raw(true),
      findKey: db.prepare(
        `SELECT k.id, k.account_id, a.group_name, g.multiplier_ppm, k.allowed_models, k.credit_limit_micros,
                k.rpm_limit, k.max_concurrent, k.expires_s, k.revoked_ms, a.disabled_ms
         FROM api_keys k JOIN accounts a ON a.id = k.account_id JOIN groups g ON g.name = a.group_name
         WHERE k.key_hash = ?`,
      ),
      balance: db.prepare(
        `SELECT id, balance_micros, held_micros, used_micros FROM accounts WHERE id = ?`,
      ),
    };
  }

  private get p() {
    if (!this.parts) throw new Error("store used before migrate()");
    return this.parts;
  }

  /**
   * Resolves when this connection may write without meeting the writer thread's lock.
   * Every write outside submissions awaits it; other stores on this connection get it too.
   */
  readonly turn = (): Promise<void> =>
    this.parts ? this.parts.submitter.turn() : Promise.resolve();

  /** Whether submissions are written on the writer thread (false: inline). */
  get writerThreaded(): boolean {
    return this.parts?.submitter.threaded ?? false;
  }

  async close(): Promise<void> {
    await this.parts?.submitter.close();
    this.reader?.close();
    this.db.close();
  }

  async getSetting(key: string): Promise<string | null> {
    const r = this.db.prepare(`SELECT value FROM settings WHERE key = ?`).get(key) as
      { value: string } | undefined;
    return r?.value ?? null;
  }

  async initSetting(key: string, value: string): Promise<string> {
    await this.turn();
    this.db
      .prepare(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`)
      .run(key, value);
    return (await this.getSetting(key))!;
  }

  async isEmpty(): Promise<boolean> {
    return this.db.prepare(`SELECT 1 FROM accounts LIMIT 1`).get() === undefined;
  }

  async upsertGroups(
    groups: Array<{ name: string; multiplierPpm: number }>,
    nowMs: number,
  ): Promise<void> {
    await this.turn();
    const up = this.db.prepare(
      `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET multiplier_ppm = excluded.multiplier_ppm`,
    );
    this.db.transaction(() => {
      for (const g of groups) up.run(g.name, g.multiplierPpm, nowMs);
    })();
  }

  async bootstrap(b: BootstrapInput): Promise<void> {
    await this.turn();
    const db = this.db;
    db.transaction(() => {
      db.prepare(
        `INSERT INTO settings (key, value) VALUES ('admin_token_hash', ?) ON CONFLICT (key) DO NOTHING`,
      ).run(b.adminTokenHash);
      const up = db.prepare(
        `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
      );
      for (const g of b.groups) up.run(g.name, g.multiplierPpm, b.nowMs);
      const accountId = `acct_${b.apiKey.id.slice(4)}`;
      db.prepare(
        `INSERT INTO accounts (id, name, group_name, balance_micros, webhook_secret, created_ms) VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(accountId, b.accountName, b.groupName, b.creditsMicros, b.webhookSecret, b.nowMs);
      db.prepare(
        `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
         VALUES (?, 'topup', ?, ?, 0, 'initial credits', ?)`,
      ).run(accountId, b.creditsMicros, b.creditsMicros, b.nowMs);
      db.prepare(
        `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_ms) VALUES (?, ?, 'bootstrap', ?, ?, ?)`,
      ).run(b.apiKey.id, accountId, b.apiKey.hash, b.apiKey.prefix, b.nowMs);
    }).immediate();
  }

  async findKeyByHash(hash: string): Promise<KeyPrincipal | null> {
    const r = this.p.findKey.get(hash) as KeyRow | undefined;
    return r ? principalFromRow(r) : null;
  }

  submitTask(input: SubmitInput): Promise<SubmitResult> {
    return this.p.submitter.submit(input);
  }

  /** SQLite reads are synchronous: the poll fast path calls this without a promise. */
  getTaskNow(accountId: string, taskId: string): TaskView | null {
    const { getTask } = this.p;
    const r = (
      this.reader ? this.reader.get(getTask, taskId, accountId) : getTask.get(taskId, accountId)
    ) as unknown[] | undefined;
    return r ? viewFromRaw(r) : null;
  }

  async getTask(accountId: string, taskId: string): Promise<TaskView | null> {
    return this.getTaskNow(accountId, taskId);
  }

  async getBalance(accountId: string): Promise<AccountBalance | null> {
    const r = this.p.balance.get(accountId) as
      { id: string; balance_micros: number; held_micros: number; used_micros: number } | undefined;
    if (!r) return null;
    return {
      accountId: r.id,
      balanceMicros: Number(r.balance_micros),
      heldMicros: Number(r.held_micros),
      usedMicros: Number(r.used_micros),
    };
  }

  async getCredits(accountId: string, keyId: string): Promise<CreditsView | null> {
    const r = this.db
      .prepare(
        `SELECT a.balance_micros, a.held_micros, a.used_micros, k.credit_limit_micros, k.held_micros AS key_held, k.used_micros AS key_used
         FROM accounts a JOIN api_keys k ON k.account_id = a.id WHERE a.id = ? AND k.id = ?`,
      )
      .get(accountId, keyId) as Record<string, number | null> | undefined;
    if (!r) return null;
    return {
      account: {
        balanceMicros: Number(r.balance_micros),
        heldMicros: Number(r.held_micros),
        usedMicros: Number(r.used_micros),
      },
      key: {
        creditLimitMicros: r.credit_limit_micros === null ? null : Number(r.credit_limit_micros),
        heldMicros: Number(r.key_held),
        usedMicros: Number(r.key_used),
      },
    };
  }

  async cancelTask(accountId: string, taskId: string, nowMs: number): Promise<CancelResult> {
    await this.turn();
    return this.p.finisher.cancel(accountId, taskId, nowMs);
  }

  async claimTasks(
    owner: string,
    limit: number,
    leaseMs: number,
    nowMs: number,
    modelBudgets?: ReadonlyMap<string, number>,
  ): Promise<ClaimedTask[]> {
    await this.turn();
    return this.p.leases.claim(owner, limit, leaseMs, nowMs, modelBudgets);
  }

  async markChannel(
    taskId: string,
    leaseToken: string,
    channelId: string,
    cancellable: boolean,
    nowMs: number,
  ): Promise<"ok" | "lease_lost" | "cancel_requested"> {
    await this.turn();
    return this.p.leases.markChannel(taskId, leaseToken, channelId, cancellable, nowMs);
  }

  async releaseTask(taskId: string, leaseToken: string, nowMs: number): Promise<boolean> {
    await this.turn();
    return this.p.leases.release(taskId, leaseToken, nowMs);
  }

  async listTasks(
    accountId: string,
    q: TaskListQuery,
  ): Promise<{ data: TaskView[]; total: number }> {
    const { sql: where, args } = whereEquals({
      account_id: accountId,
      status: q.status,
      model: q.model,
    });
    const total = this.db.prepare(`SELECT COUNT(*) AS n FROM tasks ${where}`).get(...args) as {
      n: number;
    };
    const rows = this.db
      .prepare(
        `SELECT ${TASK_VIEW_COLUMNS} FROM tasks ${where} ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?`,
      )
      .raw(true)
      .all(...args, q.pageSize, (q.page - 1) * q.pageSize) as unknown[][];
    return { data: rows.map(viewFromRaw), total: Number(total.n) };
  }

  async heartbeat(
    _owner: string,
    leases: Array<{ taskId: string; leaseToken: string }>,
    leaseMs: number,
    nowMs: number,
  ): Promise<{ lost: string[]; cancelRequested: string[] }> {
    await this.turn();
    return this.p.leases.heartbeat(leases, leaseMs, nowMs);
  }

  async reportProgress(
    taskId: string,
    leaseToken: string,
    progress: number,
    nowMs: number,
  ): Promise<boolean> {
    await this.turn();
    return this.p.leases.progress(taskId, leaseToken, progress, nowMs);
  }

  async finishTask(
    taskId: string,
    leaseToken: string,
    outcome: TaskOutcome,
    nowMs: number,
  ): Promise<boolean> {
    await this.turn();
    return this.p.finisher.finish(taskId, leaseToken, outcome, nowMs);
  }

  async recentDurations(limitPerModel: number): Promise<Array<{ model: string; seconds: number }>> {
    const rows = this.db
      .prepare(
        `SELECT model, (finished_ms - created_ms) / 1000.0 AS seconds FROM (
           SELECT model, finished_ms, created_ms,
                  ROW_NUMBER() OVER (PARTITION BY model ORDER BY finished_ms DESC) AS rn
           FROM tasks WHERE status = 'completed') WHERE rn <= ?`,
      )
      .all(limitPerModel) as Array<{ model: string; seconds: number }>;
    return rows;
  }

  /** Test and audit access to the raw database (ledger checks). */
  raw(): Database.Database {
    return this.db;
  }
}
