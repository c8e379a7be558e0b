/**
 * The embedded backend's task store: one SQLite file (better-sqlite3, WAL) in the data
 * dir, reached through the process's one connection (connection.ts).
 *
 * better-sqlite3 is synchronous, which on SQLite is a feature: a statement is a few
 * microseconds, far less than hopping to a thread pool. Durability: WAL with
 * `synchronous=FULL`, so an answered submission survives power loss; group commit on a
 * writer thread (writer.ts) keeps that affordable for submissions and for every write
 * the runner makes. The rare other writes go through `conn.write()`, which waits for its
 * turn and keeps polls' reads fresh.
 */
import type Database from "better-sqlite3";
import type {
  AccountBalance,
  ActiveTaskCount,
  BootstrapInput,
  CancelResult,
  MarkResult,
  RequestCount,
  ClaimedTask,
  CreditsView,
  ExpiredTask,
  KeyPrincipal,
  Store,
  SubmitInput,
  SubmitResult,
  TaskListQuery,
  TaskImages,
  TaskOutcome,
  TaskPage,
  TaskView,
  TrailEntry,
} from "../store.js";
import type { FailureCode } from "../../core/types.js";
import type { SqliteConnection } from "./connection.js";
import { SqliteTaskList } from "./list.js";
import { readOnThread } from "./read-thread.js";
import {
  principalFromRow,
  taskImagesFromRow,
  TASK_VIEW_COLUMNS,
  viewFromRaw,
  type KeyRow,
} from "../rows.js";

const GET_TASK = `SELECT ${TASK_VIEW_COLUMNS} FROM tasks WHERE id = ? AND account_id = ?`;

export class SqliteStore implements Store {
  private readonly lists: SqliteTaskList;
  /** Polls: in the turn's snapshot (connection.ts). */
  private readonly getTaskStmt: Database.Statement;
  private readonly findKey: Database.Statement;
  private readonly balance: Database.Statement;
  private readonly queued: Database.Statement;

  /** `conn` must be open (schema in place). */
  constructor(private readonly conn: SqliteConnection) {
    this.lists = new SqliteTaskList(conn);
    this.getTaskStmt = conn.prepareSnapshotRead(GET_TASK).raw(true);
    this.findKey = conn.prepare(
      `SELECT k.id, k.account_id, a.group_name, g.multiplier_ppm, k.allowed_models, k.credit_limit_micros,
              k.rpm_limit, k.max_concurrent, k.expires_s, k.revoked_ms, a.disabled_ms
       FROM api_keys k JOIN accounts a ON a.id = k.account_id JOIN groups g ON g.name = a.group_name
       WHERE k.key_hash = ?`,
    );
    this.balance = conn.prepare(
      `SELECT id, balance_micros, held_micros, used_micros FROM accounts WHERE id = ?`,
    );
    // 008_queue's count: one row per model.
    this.queued = conn.prepare(`SELECT pending FROM model_queue WHERE model = ?`).pluck();
  }

  async getSetting(key: string): Promise<string | null> {
    const r = this.conn.prepare(`SELECT value FROM settings WHERE key = ?`).get(key) as
      { value: string } | undefined;
    return r?.value ?? null;
  }

  async initSetting(key: string, value: string): Promise<string> {
    const insert = this.conn.prepare(
      `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
    );
    await this.conn.write(() => insert.run(key, value));
    return (await this.getSetting(key))!;
  }

  async isEmpty(): Promise<boolean> {
    return this.conn.prepare(`SELECT 1 FROM accounts LIMIT 1`).get() === undefined;
  }

  async upsertGroups(
    groups: Array<{ name: string; multiplierPpm: number }>,
    nowMs: number,
  ): Promise<void> {
    const up = this.conn.prepare(
      `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET multiplier_ppm = excluded.multiplier_ppm`,
    );
    const upsert = this.conn.transaction(() => {
      for (const g of groups) up.run(g.name, g.multiplierPpm, nowMs);
    });
    await this.conn.write(() => upsert());
  }

  async bootstrap(b: BootstrapInput): Promise<void> {
    const db = this.conn;
    const tx = db.transaction(() => {
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
    });
    await this.conn.write(() => tx.immediate());
  }

  async findKeyByHash(hash: string): Promise<KeyPrincipal | null> {
    const r = this.findKey.get(hash) as KeyRow | undefined;
    return r ? principalFromRow(r) : null;
  }

  submitTask(input: SubmitInput): Promise<SubmitResult> {
    return this.conn.submit(input);
  }

  /** SQLite reads are synchronous: the poll fast path calls this without a promise. */
  getTaskNow(accountId: string, taskId: string): TaskView | null {
    const r = this.conn.readInSnapshot(this.getTaskStmt, taskId, accountId) as
      unknown[] | undefined;
    return r ? viewFromRaw(r) : null;
  }

  async getTask(accountId: string, taskId: string): Promise<TaskView | null> {
    return this.getTaskNow(accountId, taskId);
  }

  async getBalance(accountId: string): Promise<AccountBalance | null> {
    const r = this.balance.get(accountId) as
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
    const r = this.conn
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
    return this.conn.enqueue({ kind: "cancel", accountId, taskId, nowMs });
  }

  async claimTasks(
    owner: string,
    limit: number,
    leaseMs: number,
    nowMs: number,
    modelBudgets?: ReadonlyMap<string, number>,
  ): Promise<ClaimedTask[]> {
    if (limit <= 0) return [];
    return this.conn.enqueue({
      kind: "claim",
      owner,
      limit,
      leaseMs,
      nowMs,
      budgets: modelBudgets ? [...modelBudgets] : null,
    });
  }

  async markChannel(
    taskId: string,
    leaseToken: string,
    channelId: string,
    cancellable: boolean,
    nowMs: number,
    maxInFlight: number | null = null,
  ): Promise<MarkResult> {
    return this.conn.enqueue({
      kind: "markChannel",
      taskId,
      leaseToken,
      channelId,
      cancellable,
      nowMs,
      maxInFlight,
    });
  }

  async releaseTask(
    taskId: string,
    leaseToken: string,
    nowMs: number,
    trail?: readonly TrailEntry[],
  ): Promise<boolean> {
    return this.conn.enqueue({
      kind: "release",
      taskId,
      leaseToken,
      nowMs,
      ...(trail ? { trail: [...trail] } : {}),
    });
  }

  async listTasks(accountId: string, q: TaskListQuery): Promise<TaskPage> {
    return this.lists.list(accountId, q);
  }

  async heartbeat(
    _owner: string,
    leases: Array<{ taskId: string; leaseToken: string }>,
    leaseMs: number,
    nowMs: number,
  ): Promise<{ lost: string[]; cancelRequested: string[] }> {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    return this.conn.enqueue({ kind: "heartbeat", leases, leaseMs, nowMs });
  }

  async reportProgress(
    taskId: string,
    leaseToken: string,
    progress: number,
    nowMs: number,
  ): Promise<boolean> {
    return this.conn.enqueue({ kind: "progress", taskId, leaseToken, progress, nowMs });
  }

  async finishTask(
    taskId: string,
    leaseToken: string,
    outcome: TaskOutcome,
    nowMs: number,
    trail?: readonly TrailEntry[],
  ): Promise<boolean> {
    return this.conn.enqueue({
      kind: "finish",
      taskId,
      leaseToken,
      outcome,
      nowMs,
      ...(trail ? { trail: [...trail] } : {}),
    });
  }

  async expirePending(
    cutoffMs: number,
    limit: number,
    failure: { code: FailureCode; message: string },
    nowMs: number,
  ): Promise<ExpiredTask[]> {
    if (limit <= 0) return [];
    return this.conn.enqueue({ kind: "expire", cutoffMs, limit, failure, nowMs });
  }

  async queuedTasks(model: string): Promise<number> {
    return Number((this.queued.get(model) as number | undefined) ?? 0);
  }

  /**
   * Up to two rows per account and model are read: a few hundred accounts take well
   * under a millisecond, but ten thousand took 40 ms (240 under load), too long for the
   * event loop. Past COUNTS_ON_THREAD_ABOVE_ACCOUNTS (the accounts' highest rowid: an
   * O(log n) estimate) a file's read runs on a short-lived thread of its own
   * (read-thread.ts), which costs tens of milliseconds to start: a scrape can wait.
   */
  async activeTaskCounts(): Promise<ActiveTaskCount[]> {
    const accounts = this.conn.prepare(`SELECT MAX(rowid) AS n FROM accounts`).get() as {
      n: number | null;
    };
    const onThread =
      this.conn.file !== ":memory:" && Number(accounts.n ?? 0) > COUNTS_ON_THREAD_ABOVE_ACCOUNTS;
    const rows = (
      onThread
        ? (await readOnThread(this.conn.file, [ACTIVE_TASK_COUNTS_SQL]))[0]!
        : this.conn.prepare(ACTIVE_TASK_COUNTS_SQL).all()
    ) as Array<{ model: string; status: ActiveTaskCount["status"]; n: number }>;
    // Summed here: grouping in SQL sorted every row in a temporary b-tree (4× the walk).
    const sums = new Map<string, ActiveTaskCount>();
    for (const r of rows) {
      const key = `${r.status} ${r.model}`;
      const c = sums.get(key) ?? { model: r.model, status: r.status, count: 0 };
      c.count += Number(r.n);
      sums.set(key, c);
    }
    return [...sums.values()];
  }

  async recentDurations(
    models: readonly string[],
    limitPerModel: number,
  ): Promise<Array<{ model: string; seconds: number }>> {
    const newest = this.conn.prepare(RECENT_DURATIONS_SQL);
    return models.flatMap(
      (model) => newest.all(model, limitPerModel) as Array<{ model: string; seconds: number }>,
    );
  }

  async imagesOfTasks(taskIds: readonly string[]): Promise<Map<string, TaskImages>> {
    const found = new Map<string, TaskImages>();
    for (let at = 0; at < taskIds.length; at += 100) {
      const ids = taskIds.slice(at, at + 100);
      const rows = this.conn
        .prepare(
          `SELECT id, status, results FROM tasks WHERE id IN (${ids.map(() => "?").join(", ")})`,
        )
        .all(...ids) as Array<{ id: string; status: string; results: string | null }>;
      for (const r of rows) found.set(r.id, taskImagesFromRow(r));
    }
    return found;
  }

  async shareRequestCounts(
    added: readonly RequestCount[],
    dropBeforeMs: number,
  ): Promise<RequestCount[]> {
    return this.conn.enqueue({ kind: "shareRates", added: [...added], dropBeforeMs });
  }

  async purgeTasks(createdBeforeMs: number, limit: number): Promise<number> {
    return this.conn.enqueue({ kind: "purge", createdBeforeMs, limit });
  }
}

/**
 * One bounded walk of the tasks_finished index per model (model, limit). A window
 * function over every completed task read the whole history at each start (seconds
 * at 1M tasks); test/store/sqlite/start-reads.test.ts checks the plan.
 */
export const RECENT_DURATIONS_SQL = `SELECT model, (finished_ms - created_ms) / 1000.0 AS seconds
  FROM tasks WHERE status = 'completed' AND model = ? ORDER BY finished_ms DESC LIMIT ?`;

/** Above this many accounts the queue's read runs on a thread (activeTaskCounts). */
export const COUNTS_ON_THREAD_ABOVE_ACCOUNTS = 500;

/**
 * The queue per model, from the counts the triggers keep (migration 004): a walk of
 * task_counts, one row per account, model and status (never the tasks), so a scrape
 * costs the same at ten thousand or ten million tasks.
 */
export const ACTIVE_TASK_COUNTS_SQL = `SELECT model, status, n FROM task_counts
  WHERE n > 0 AND status IN ('pending', 'processing')`;
