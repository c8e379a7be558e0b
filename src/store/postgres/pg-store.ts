/**
 * The task store on PostgreSQL (DATABASE_URL): the same behaviour as SQLite's
 * (store/sqlite), for many processes sharing one database.
 *
 * Round trips are the cost that matters, so each hot operation is one statement:
 * - submissions: one call of darkroom_submit (task-functions.ts) per batch. Submissions
 *   that arrive while a batch is being written wait and go together in the next
 *   (one transaction, one commit; group-commit.ts), as on SQLite's writer; a lone one
 *   goes at once.
 * - a poll: one primary-key read of the public columns (a prepared statement).
 * - a claim: one call of darkroom_claim (FOR UPDATE SKIP LOCKED, per-model budgets).
 * - heartbeats, progress, channel marks, releases: one fenced UPDATE each.
 * - finishes: batched like submissions, one call of darkroom_finish_batch
 *   (finish-batch.ts) per batch, which takes each account's row once for the batch.
 * - a cancel: one call of darkroom_cancel.
 *
 * Hot statements are named, so each connection parses and plans them once. A single
 * statement runs in its own transaction; one that loses a serialization or deadlock
 * race (SQLSTATE 40001/40P01) is run again, since it committed nothing.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import type { FailureCode } from "../../core/types.js";
import type {
  AccountBalance,
  ActiveTaskCount,
  BootstrapInput,
  CancelResult,
  ClaimedTask,
  CreditsView,
  ExpiredTask,
  KeyPrincipal,
  MarkResult,
  RequestCount,
  Store,
  SubmitInput,
  SubmitResult,
  TaskImages,
  TaskListQuery,
  TaskOutcome,
  TaskPage,
  TaskView,
  TrailEntry,
} from "../store.js";
import {
  keysetStart,
  matchingCounts,
  TASK_COUNTS_SQL,
  TASK_LISTING,
  taskGroups,
  taskPosition,
  type CountRow,
} from "../keyset-plan.js";
import {
  idsCreatedBefore,
  minutesBefore,
  principalFromRow,
  taskFromRow,
  taskImagesFromRow,
  TASK_VIEW_COLUMNS,
  viewFromRaw,
} from "../rows.js";
import type { KeyRow, TaskRow } from "../rows.js";
import { createdTask, toSubmitRow, type SubmitRow } from "../submission.js";
import type { PgDatabase, Row } from "./database.js";
import { GroupCommit } from "./group-commit.js";
import { numbered, PgKeyset } from "./keyset.js";
import { TRAIL_COLUMNS, trailValues } from "../trail-rows.js";

/** Enough to amortise a commit many times over while keeping one batch's reply prompt. */
const MAX_BATCH = 256;

const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_ATTEMPTS = 5;

const VIEW_COLUMN_NAMES = TASK_VIEW_COLUMNS.split(", ");

/** A claim's trail as a JSON parameter, read back as rows of task_attempts. */
const TRAIL_RECORDS = (param: string) =>
  `jsonb_to_recordset(${param}::jsonb) AS x(task_id text, at_ms bigint, seq integer, kind text,
    ended_ms bigint, channel_id text, outcome text, error_code text)`;
const TRAIL_SELECT =
  "x.task_id, x.at_ms, x.seq, x.kind, x.ended_ms, x.channel_id, x.outcome, x.error_code";

function trailRecords(
  taskId: string,
  trail: readonly TrailEntry[],
): Array<Record<string, unknown>> {
  const names = TRAIL_COLUMNS.split(", ");
  return trailValues(taskId, trail).map((v) => Object.fromEntries(names.map((n, i) => [n, v[i]])));
}

const trailJson = (taskId: string, trail: readonly TrailEntry[]): string =>
  JSON.stringify(trailRecords(taskId, trail));

const SQL = {
  getTask: `SELECT ${TASK_VIEW_COLUMNS} FROM tasks WHERE id = $1 AND account_id = $2`,
  findKey: `SELECT k.id, k.account_id, a.group_name, g.multiplier_ppm, k.allowed_models, k.credit_limit_micros,
      k.rpm_limit, k.max_concurrent, k.expires_s, k.revoked_ms, a.disabled_ms
    FROM api_keys k JOIN accounts a ON a.id = k.account_id JOIN groups g ON g.name = a.group_name
    WHERE k.key_hash = $1`,
  submit: `SELECT out_kind, out_task, out_estimated FROM darkroom_submit($1::jsonb)`,
  expire: `SELECT * FROM darkroom_expire($1, $2, $3, $4, $5)`,
  claim: `SELECT * FROM darkroom_claim($1, $2, $3, $4, $5::text[], $6::integer[], $7::text[])`,
  extend: `UPDATE tasks t SET lease_expires_ms = $1, updated_ms = $2
    FROM unnest($3::text[], $4::text[]) AS l(id, token)
    WHERE t.id = l.id AND t.lease_token = l.token AND t.status = 'processing'
    RETURNING t.id, t.lease_token, t.cancel_requested`,
  progress: `UPDATE tasks SET progress = GREATEST(progress, $3), updated_ms = $4
    WHERE id = $1 AND lease_token = $2 AND status = 'processing'`,
  // A cancel that got in first wins: the upstream call must not start. The second
  // column tells a lost lease from that refusal, in the same round trip.
  markChannel: `SELECT darkroom_mark_channel($1, $2, $3, $4::smallint, $5, $6) AS result`,
  // The lease lapses at once and the attempt is not counted: no upstream was called.
  release: `UPDATE tasks SET lease_owner = NULL, lease_token = NULL, lease_expires_ms = $3::bigint - 1,
      attempts = GREATEST(attempts - 1, 0), updated_ms = $3
    WHERE id = $1 AND lease_token = $2 AND status = 'processing'`,
  /**
   * A batch of finishes in one statement (one transaction), each with its claim's
   * trail: the trail's rows are inserted only for the finishes that moved their task.
   * A CTE is computed once, so the batch function runs once.
   */
  finishBatch: `WITH f AS (SELECT out_ord FROM darkroom_finish_batch($1::jsonb)),
    t AS (INSERT INTO task_attempts (${TRAIL_COLUMNS})
      SELECT ${TRAIL_SELECT} FROM f
        JOIN jsonb_to_recordset($1::jsonb) AS b(ord integer, trail jsonb) ON b.ord = f.out_ord
        CROSS JOIN LATERAL ${TRAIL_RECORDS("b.trail")}
      WHERE b.trail IS NOT NULL
      ON CONFLICT DO NOTHING)
    SELECT out_ord FROM f`,
  releaseTrail: `WITH r AS (UPDATE tasks SET lease_owner = NULL, lease_token = NULL,
        lease_expires_ms = $3::bigint - 1, attempts = GREATEST(attempts - 1, 0), updated_ms = $3
      WHERE id = $1 AND lease_token = $2 AND status = 'processing' RETURNING id),
    t AS (INSERT INTO task_attempts (${TRAIL_COLUMNS})
      SELECT ${TRAIL_SELECT} FROM r, ${TRAIL_RECORDS("$4")}
      ON CONFLICT DO NOTHING)
    SELECT COUNT(*)::int AS released FROM r`,
  cancel: `SELECT darkroom_cancel($1, $2, $3, $4) AS result`,
  counts: numbered(TASK_COUNTS_SQL),
  /**
   * One bounded walk of the tasks_finished index per model (model, limit), as on
   * SQLite, all models in one statement.
   */
  recentDurations: `SELECT m.model, d.seconds FROM unnest($1::text[]) WITH ORDINALITY AS m(model, ord)
    CROSS JOIN LATERAL (
      SELECT ((finished_ms - created_ms) / 1000.0)::float8 AS seconds FROM tasks
      WHERE status = 'completed' AND model = m.model ORDER BY finished_ms DESC LIMIT $2) AS d
    ORDER BY m.ord`,
} as const;

interface QueuedSubmit {
  input: SubmitInput;
  row: SubmitRow;
}

/** A finish as darkroom_finish_batch reads it (jsonb_to_recordset: snake_case). */
interface FinishItem {
  id: string;
  token: string;
  status: TaskOutcome["kind"];
  progress: number | null;
  results: string | null;
  error_code: string | null;
  error_message: string | null;
  charge: number;
  now_ms: number;
  outbox_id: string;
  /** The claim's trail (task_attempts rows), written with the finish; null: none. */
  trail: Array<Record<string, unknown>> | null;
}

export interface PgStoreOptions {
  /** Called after submissions that created tasks have committed (the work signal). */
  onCreated?: () => void;
  /** Called after a task was handed back to be claimed again (the work signal). */
  onHandedBack?: () => void;
  /**
   * Submission batches in flight at once: with one, batches form whenever the
   * database is slower than arrivals; more let the pool's connections commit side
   * by side (many accounts). Default 2.
   */
  submitBatchesInFlight?: number;
  /** Finish batches in flight at once. Default 2. */
  finishBatchesInFlight?: number;
}

export class PgStore implements Store {
  readonly submissions: GroupCommit<QueuedSubmit, SubmitResult>;
  readonly finishes: GroupCommit<FinishItem, boolean>;
  private readonly keyset = new PgKeyset(TASK_LISTING);

  constructor(
    private readonly db: PgDatabase,
    private readonly opts: PgStoreOptions = {},
  ) {
    this.submissions = new GroupCommit({
      write: (batch) => this.submitRows(batch),
      // A batch whose connection broke as it committed is retried one by one; a task
      // already there was committed then (its id is new with each submission).
      alone: async (q, err) => {
        if (await this.alreadyCreated(q, err))
          return { kind: "created", task: createdTask(q.input) };
        throw err;
      },
      maxBatch: MAX_BATCH,
      inFlight: opts.submitBatchesInFlight ?? 2,
    });
    this.finishes = new GroupCommit({
      write: (batch) => this.finishRows(batch),
      alone: (_item, err) => Promise.reject(err),
      maxBatch: MAX_BATCH,
      inFlight: opts.finishBatchesInFlight ?? 2,
    });
  }

  /** One statement, prepared once per connection under `name`, retried on a lost race. */
  private async run<R extends Row = Row>(
    name: string,
    text: string,
    values: unknown[],
    rowMode?: "array",
  ): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const config: pg.QueryConfig = { name, text, values };
        if (rowMode) (config as pg.QueryArrayConfig).rowMode = "array";
        return (await this.db.pool.query(config)).rows as R[];
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === "string" && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  async getSetting(key: string): Promise<string | null> {
    const [r] = await this.db.query<{ value: string }>(
      `SELECT value FROM settings WHERE key = $1`,
      [key],
    );
    return r?.value ?? null;
  }

  async initSetting(key: string, value: string): Promise<string> {
    // The CTE's insert is not visible to the outer SELECT; COALESCE takes whichever won.
    const [r] = await this.db.query<{ value: string }>(
      `WITH ins AS (INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value)
       SELECT COALESCE((SELECT value FROM ins), (SELECT value FROM settings WHERE key = $1)) AS value`,
      [key, value],
    );
    return r!.value;
  }

  async isEmpty(): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM accounts LIMIT 1`)).length === 0;
  }

  async upsertGroups(
    groups: Array<{ name: string; multiplierPpm: number }>,
    nowMs: number,
  ): Promise<void> {
    if (groups.length === 0) return;
    await this.db.query(
      `INSERT INTO groups (name, multiplier_ppm, created_ms)
       SELECT name, ppm, $3 FROM unnest($1::text[], $2::bigint[]) AS g(name, ppm)
       ON CONFLICT (name) DO UPDATE SET multiplier_ppm = excluded.multiplier_ppm`,
      [groups.map((g) => g.name), groups.map((g) => g.multiplierPpm), nowMs],
    );
  }

  async bootstrap(b: BootstrapInput): Promise<void> {
    const accountId = `acct_${b.apiKey.id.slice(4)}`;
    await this.db.tx(async (c) => {
      await c.query(
        `INSERT INTO settings (key, value) VALUES ('admin_token_hash', $1) ON CONFLICT (key) DO NOTHING`,
        [b.adminTokenHash],
      );
      if (b.groups.length > 0)
        await c.query(
          `INSERT INTO groups (name, multiplier_ppm, created_ms)
           SELECT name, ppm, $3 FROM unnest($1::text[], $2::bigint[]) AS g(name, ppm)
           ON CONFLICT (name) DO NOTHING`,
          [b.groups.map((g) => g.name), b.groups.map((g) => g.multiplierPpm), b.nowMs],
        );
      await c.query(
        `INSERT INTO accounts (id, name, group_name, balance_micros, webhook_secret, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [accountId, b.accountName, b.groupName, b.creditsMicros, b.webhookSecret, b.nowMs],
      );
      await c.query(
        `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
         VALUES ($1, 'topup', $2, $2, 0, 'initial credits', $3)`,
        [accountId, b.creditsMicros, b.nowMs],
      );
      await c.query(
        `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_ms)
         VALUES ($1, $2, 'bootstrap', $3, $4, $5)`,
        [b.apiKey.id, accountId, b.apiKey.hash, b.apiKey.prefix, b.nowMs],
      );
    });
  }

  async findKeyByHash(hash: string): Promise<KeyPrincipal | null> {
    const [r] = await this.run<KeyRow & Row>("darkroom_find_key", SQL.findKey, [hash]);
    return r ? principalFromRow(r) : null;
  }

  // ---- Submissions: batched, one statement per batch ----

  submitTask(input: SubmitInput): Promise<SubmitResult> {
    return this.submissions.add({ input, row: toSubmitRow(input) });
  }

  private async alreadyCreated(q: QueuedSubmit, err: unknown): Promise<boolean> {
    // A unique violation: its reserve entry or its task row is there already.
    if ((err as { code?: unknown }).code !== "23505") return false;
    const rows = await this.db
      .query(`SELECT 1 FROM tasks WHERE id = $1 AND account_id = $2`, [
        q.row.taskId,
        q.row.accountId,
      ])
      .catch(() => []);
    return rows.length === 1;
  }

  private async submitRows(batch: QueuedSubmit[]): Promise<SubmitResult[]> {
    const items = JSON.stringify(batch.map((q) => submitJson(q.row)));
    const rows = await this.run<{
      out_kind: string;
      out_task: TaskRow | null;
      out_estimated: number | null;
    }>("darkroom_submit", SQL.submit, [items]);
    if (rows.length !== batch.length)
      throw new Error(`darkroom_submit answered ${rows.length} of ${batch.length} submissions`);
    if (rows.some((r) => r.out_kind === "created")) this.opts.onCreated?.();
    return rows.map((r, i): SubmitResult => {
      switch (r.out_kind) {
        case "created":
          return {
            kind: "created",
            task: createdTask(batch[i]!.input, r.out_estimated ?? undefined),
          };
        case "replayed":
          return { kind: "replayed", task: taskFromRow(r.out_task!) };
        default:
          return { kind: r.out_kind as Exclude<SubmitResult["kind"], "created" | "replayed"> };
      }
    });
  }

  // ---- Reads ----

  async getTask(accountId: string, taskId: string): Promise<TaskView | null> {
    const [r] = await this.run<Row>("darkroom_get_task", SQL.getTask, [taskId, accountId], "array");
    return r ? viewFromRaw(r as unknown as unknown[]) : null;
  }

  async getBalance(accountId: string): Promise<AccountBalance | null> {
    const [r] = await this.db.query<{
      id: string;
      balance_micros: number;
      held_micros: number;
      used_micros: number;
    }>(`SELECT id, balance_micros, held_micros, used_micros FROM accounts WHERE id = $1`, [
      accountId,
    ]);
    if (!r) return null;
    return {
      accountId: r.id,
      balanceMicros: r.balance_micros,
      heldMicros: r.held_micros,
      usedMicros: r.used_micros,
    };
  }

  async getCredits(accountId: string, keyId: string): Promise<CreditsView | null> {
    const [r] = await this.db.query<Record<string, number | null>>(
      `SELECT a.balance_micros, a.held_micros, a.used_micros, k.credit_limit_micros,
         k.held_micros AS key_held, k.used_micros AS key_used
       FROM accounts a JOIN api_keys k ON k.account_id = a.id WHERE a.id = $1 AND k.id = $2`,
      [accountId, keyId],
    );
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

  /**
   * The counts and the page in one REPEATABLE READ transaction, so the total and the
   * rows agree; the page is a keyset walk (keyset.ts) of the index the filter names.
   */
  async listTasks(accountId: string, q: TaskListQuery): Promise<TaskPage> {
    // Refused before anything is read: a page number deeper than PAGE_DEPTH throws.
    const start = keysetStart(q, (p) => [p.createdMs, p.id]);
    return this.db.tx(async (c) => {
      const counts = matchingCounts(await c.query<CountRow & Row>(SQL.counts, [accountId]), q);
      const total = counts.reduce((sum, n) => sum + Number(n.n), 0);
      const { rows, next } = await this.keyset.page(
        c,
        taskGroups(accountId, counts, q),
        q.pageSize,
        start,
      );
      return {
        data: (rows as Row[]).map((r) => viewFromRaw(VIEW_COLUMN_NAMES.map((col) => r[col]))),
        total,
        next: next ? taskPosition(next) : null,
      };
    }, "repeatable read");
  }

  async recentDurations(
    models: readonly string[],
    limitPerModel: number,
  ): Promise<Array<{ model: string; seconds: number }>> {
    if (models.length === 0) return [];
    return this.db.query<{ model: string; seconds: number }>(SQL.recentDurations, [
      [...models],
      limitPerModel,
    ]);
  }

  // ---- The runner's writes, fenced by (id, lease_token) ----

  async claimTasks(
    owner: string,
    limit: number,
    leaseMs: number,
    nowMs: number,
    modelBudgets?: ReadonlyMap<string, number>,
  ): Promise<ClaimedTask[]> {
    if (limit <= 0) return [];
    const budgets = [...(modelBudgets ?? [])];
    const tokens = Array.from({ length: limit }, () => randomBytes(12).toString("base64url"));
    const rows = await this.run<TaskRow & Row>("darkroom_claim", SQL.claim, [
      owner,
      limit,
      nowMs + leaseMs,
      nowMs,
      budgets.map(([m]) => m),
      budgets.map(([, n]) => n),
      tokens,
    ]);
    // In the order claimed (lapsed leases first, then oldest pending), as on SQLite.
    const order = new Map(tokens.map((t, i) => [t, i]));
    return rows
      .map((r) => ({ r, at: order.get(String(r.lease_token)) ?? 0 }))
      .sort((a, b) => a.at - b.at)
      .map(({ r }) => ({
        task: taskFromRow(r),
        leaseToken: String(r.lease_token),
        priceMicros: Number(r.price_micros),
        multiplierPpm: Number(r.multiplier_ppm),
      }));
  }

  async markChannel(
    taskId: string,
    leaseToken: string,
    channelId: string,
    cancellable: boolean,
    nowMs: number,
    maxInFlight: number | null = null,
  ): Promise<MarkResult> {
    const [r] = await this.run<{ result: MarkResult }>("darkroom_mark_channel", SQL.markChannel, [
      taskId,
      leaseToken,
      channelId,
      cancellable ? 1 : 0,
      nowMs,
      maxInFlight,
    ]);
    return r!.result;
  }

  async releaseTask(
    taskId: string,
    leaseToken: string,
    nowMs: number,
    trail?: readonly TrailEntry[],
  ): Promise<boolean> {
    if (trail && trail.length > 0) {
      const [row] = await this.run<{ released: number }>(
        "darkroom_release_trail",
        SQL.releaseTrail,
        [taskId, leaseToken, nowMs, trailJson(taskId, trail)],
      );
      return Number(row?.released) === 1;
    }
    const r = await this.db.pool.query({
      name: "darkroom_release",
      text: SQL.release,
      values: [taskId, leaseToken, nowMs],
    });
    if (r.rowCount !== 1) return false;
    // Runnable again at once: wake the workers (coalesced by the signal).
    this.opts.onHandedBack?.();
    return true;
  }

  async heartbeat(
    _owner: string,
    leases: Array<{ taskId: string; leaseToken: string }>,
    leaseMs: number,
    nowMs: number,
  ): Promise<{ lost: string[]; cancelRequested: string[] }> {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    const rows = await this.run<{ id: string; lease_token: string; cancel_requested: number }>(
      "darkroom_extend",
      SQL.extend,
      [nowMs + leaseMs, nowMs, leases.map((l) => l.taskId), leases.map((l) => l.leaseToken)],
    );
    // By id and token: a caller may name one task under a stale token as well.
    const held = new Map(
      rows.map((r) => [`${r.id}\n${r.lease_token}`, Number(r.cancel_requested) === 1]),
    );
    const lost: string[] = [];
    const cancelRequested: string[] = [];
    for (const l of leases) {
      const cancel = held.get(`${l.taskId}\n${l.leaseToken}`);
      if (cancel === undefined) lost.push(l.taskId);
      else if (cancel) cancelRequested.push(l.taskId);
    }
    return { lost, cancelRequested };
  }

  async reportProgress(
    taskId: string,
    leaseToken: string,
    progress: number,
    nowMs: number,
  ): Promise<boolean> {
    const r = await this.db.pool.query({
      name: "darkroom_progress",
      text: SQL.progress,
      values: [taskId, leaseToken, progress, nowMs],
    });
    return r.rowCount === 1;
  }

  finishTask(
    taskId: string,
    leaseToken: string,
    outcome: TaskOutcome,
    nowMs: number,
    trail?: readonly TrailEntry[],
  ): Promise<boolean> {
    const completed = outcome.kind === "completed";
    return this.finishes.add({
      id: taskId,
      token: leaseToken,
      status: outcome.kind,
      progress: completed ? 100 : null,
      results: completed ? JSON.stringify(outcome.images) : null,
      error_code: completed ? null : outcome.code,
      error_message: completed ? null : outcome.message,
      charge: completed ? outcome.chargeMicros : 0,
      now_ms: nowMs,
      outbox_id: `msg_${randomUUID()}`,
      trail: trail !== undefined && trail.length > 0 ? trailRecords(taskId, trail) : null,
    });
  }

  /** A batch of finishes in one statement; true for each that moved its task. */
  private async finishRows(batch: FinishItem[]): Promise<boolean[]> {
    const items = JSON.stringify(batch.map((f, ord) => ({ ord, ...f })));
    const rows = await this.run<{ out_ord: number }>("darkroom_finish_batch", SQL.finishBatch, [
      items,
    ]);
    const moved = new Set(rows.map((r) => Number(r.out_ord)));
    return batch.map((_f, i) => moved.has(i));
  }

  async cancelTask(accountId: string, taskId: string, nowMs: number): Promise<CancelResult> {
    const [r] = await this.run<{ result: CancelResult }>("darkroom_cancel", SQL.cancel, [
      accountId,
      taskId,
      nowMs,
      `msg_${randomUUID()}`,
    ]);
    return r!.result;
  }

  // ---- Queue, retention, shared counts ----

  async expirePending(
    cutoffMs: number,
    limit: number,
    failure: { code: FailureCode; message: string },
    nowMs: number,
  ): Promise<ExpiredTask[]> {
    if (limit <= 0) return [];
    const rows = await this.run<{
      out_id: string;
      out_account: string;
      out_model: string;
      out_created_ms: number;
    }>("darkroom_expire", SQL.expire, [cutoffMs, limit, failure.code, failure.message, nowMs]);
    return rows.map((r) => ({
      id: r.out_id,
      accountId: r.out_account,
      model: r.out_model,
      createdMs: Number(r.out_created_ms),
    }));
  }

  async queuedTasks(model: string): Promise<number> {
    const [r] = await this.db.query<{ pending: number }>(
      `SELECT pending FROM model_queue WHERE model = $1`,
      [model],
    );
    return Number(r?.pending ?? 0);
  }

  async activeTaskCounts(): Promise<ActiveTaskCount[]> {
    const rows = await this.db.query<{
      model: string;
      status: ActiveTaskCount["status"];
      n: number;
    }>(
      `SELECT model, status, SUM(n) AS n FROM task_counts
       WHERE n > 0 AND status IN ('pending', 'processing') GROUP BY model, status`,
    );
    return rows.map((r) => ({ model: r.model, status: r.status, count: Number(r.n) }));
  }

  async imagesOfTasks(taskIds: readonly string[]): Promise<Map<string, TaskImages>> {
    const found = new Map<string, TaskImages>();
    if (taskIds.length === 0) return found;
    const rows = await this.db.query<{ id: string; status: string; results: string | null }>(
      `SELECT id, status, results FROM tasks WHERE id = ANY($1::text[])`,
      [taskIds],
    );
    for (const r of rows) found.set(r.id, taskImagesFromRow(r));
    return found;
  }

  async purgeTasks(createdBeforeMs: number, limit: number): Promise<number> {
    // The oldest are a walk of the primary key; a callback still being delivered keeps its task.
    const bound = idsCreatedBefore(createdBeforeMs);
    return this.db.tx(async (c) => {
      const ids = (
        await c.query<{ id: string }>(
          `SELECT id FROM tasks t
           WHERE id < $1 AND status IN ('completed', 'failed')
             AND NOT EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.task_id = t.id AND o.status = 'pending')
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [bound, limit],
        )
      ).map((r) => r.id);
      if (ids.length === 0) return 0;
      await c.query(
        `DELETE FROM webhook_attempts WHERE outbox_id IN (SELECT id FROM webhook_outbox WHERE task_id = ANY($1::text[]))`,
        [ids],
      );
      await c.query(`DELETE FROM webhook_outbox WHERE task_id = ANY($1::text[])`, [ids]);
      await c.query(`DELETE FROM idempotency_keys WHERE task_id = ANY($1::text[])`, [ids]);
      await c.query(`DELETE FROM task_attempts WHERE task_id = ANY($1::text[])`, [ids]);
      // The activity rollup: a day longer than the tasks it counts (rows.ts).
      await c.query(`DELETE FROM task_minutes WHERE minute_s < $1`, [
        minutesBefore(createdBeforeMs),
      ]);
      await c.query(`DELETE FROM tasks WHERE id = ANY($1::text[])`, [ids]);
      return ids.length;
    });
  }

  async shareRequestCounts(
    added: readonly RequestCount[],
    dropBeforeMs: number,
  ): Promise<RequestCount[]> {
    const keys = [...new Set(added.map((a) => a.keyId))];
    const adds = added.filter((a) => a.n > 0 && a.windowStartMs >= dropBeforeMs);
    return this.db.tx(async (c) => {
      await c.query(`DELETE FROM rate_windows WHERE window_start_ms < $1`, [dropBeforeMs]);
      if (adds.length > 0)
        await c.query(
          `INSERT INTO rate_windows (key_id, window_start_ms, n)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
           ON CONFLICT (key_id, window_start_ms) DO UPDATE SET n = rate_windows.n + excluded.n`,
          [adds.map((a) => a.keyId), adds.map((a) => a.windowStartMs), adds.map((a) => a.n)],
        );
      const rows = await c.query<{ key_id: string; window_start_ms: number; n: number }>(
        `SELECT key_id, window_start_ms, n FROM rate_windows WHERE key_id = ANY($1::text[])`,
        [keys],
      );
      return rows.map((r) => ({
        keyId: r.key_id,
        windowStartMs: Number(r.window_start_ms),
        n: Number(r.n),
      }));
    });
  }

  /** Waits for the writes already asked for to be written (their callers answered). */
  async close(): Promise<void> {
    await Promise.all([this.submissions.drain(), this.finishes.drain()]);
  }
}

/** A submission as darkroom_submit reads it (jsonb_to_recordset: snake_case). */
function submitJson(r: SubmitRow): Record<string, unknown> {
  return {
    task_id: r.taskId,
    account_id: r.accountId,
    key_id: r.keyId,
    group_name: r.groupName,
    multiplier_ppm: r.multiplierPpm,
    model: r.model,
    n: r.n,
    request: r.requestJson,
    callback_url: r.callbackUrl,
    reserve: r.reserveMicros,
    price: r.priceMicros,
    estimated_s: r.estimatedSeconds,
    now_ms: r.nowMs,
    idem_key: r.idemKey,
    idem_hash: r.idemHash,
    replay_only: r.replayOnly,
    max_queued: r.maxQueued,
    queue_slots: r.queueSlots,
    queue_round_seconds: r.queueRoundSeconds,
  };
}
