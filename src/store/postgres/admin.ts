/**
 * AdminStore on PostgreSQL: accounts, keys, groups, prices and the ledger.
 *
 * Every money move is one statement: the account's UPDATE (which row-locks it until
 * commit, and whose condition PostgreSQL re-checks on the newest row version if another
 * transaction changed it first) and the ledger INSERT that reads its result, chained in
 * one CTE. So concurrent top-ups, adjustments and task settlements queue on the
 * account's row, none is lost, and each ledger entry's balance and hold after it are
 * the ones its own change made. Entries of one account get their ids while its row is
 * locked, so their ids and their balances grow in the same order.
 */
import type { ListPage, ListQuery, RowPosition } from "../../core/paging.js";
import type {
  AccountRecord,
  AdminResult,
  AdminStore,
  KeyRecord,
  KeySettings,
  LedgerEntry,
  LedgerPosition,
  LedgerProblem,
} from "../admin.js";
import {
  accountFromRow,
  KEY_COLUMNS,
  keyColumnValue,
  keyFromRow,
  ledgerFromRow,
  type AccountRow,
  type KeyRow,
  type LedgerRow,
} from "../admin-rows.js";
import { AUDIT_SQL, problemsFrom } from "../ledger-audit.js";
import { taskFromRow, type TaskRow } from "../rows.js";
import type { OperatorTaskStore } from "../operator-tasks.js";
import type { TaskRecord } from "../store.js";
import { PgOperatorTasks } from "./operator-tasks.js";
import type { PgDatabase, Row } from "./database.js";
import { listAccountsPage, listLedgerPage } from "./operator-listings.js";

export class PgAdmin implements AdminStore {
  private readonly tasks: PgOperatorTasks;

  constructor(private readonly db: PgDatabase) {
    this.tasks = new PgOperatorTasks(db);
  }

  // The operator's task reads (operator-tasks.ts), kept in their own file.
  listAllTasks(...a: Parameters<OperatorTaskStore["listAllTasks"]>) {
    return this.tasks.listAllTasks(...a);
  }

  taskWithTrail(taskId: string) {
    return this.tasks.taskWithTrail(taskId);
  }

  taskActivity(sinceMs: number, untilMs: number) {
    return this.tasks.taskActivity(sinceMs, untilMs);
  }

  private async exists(table: "accounts" | "groups", column: string, value: string) {
    const rows = await this.db.query(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [value]);
    return rows.length > 0;
  }

  async createAccount(a: {
    id: string;
    name: string;
    group: string;
    webhookSecret: string;
    nowMs: number;
  }): Promise<AdminResult<AccountRecord>> {
    // The group is read in the same statement; groups are never deleted, and the foreign
    // key would refuse a missing one anyway.
    const [row] = await this.db.query<AccountRow & Row>(
      `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms)
       SELECT $1::text, $2::text, g.name, $4::text, $5::bigint FROM groups g WHERE g.name = $3
       ON CONFLICT (name) DO NOTHING
       RETURNING *`,
      [a.id, a.name, a.group, a.webhookSecret, a.nowMs],
    );
    if (row) return { ok: true, value: accountFromRow(row) };
    if (!(await this.exists("groups", "name", a.group)))
      return { ok: false, reason: "group_not_found" };
    return { ok: false, reason: "conflict" };
  }

  async listAccounts(q: ListQuery<RowPosition>): Promise<ListPage<AccountRecord, RowPosition>> {
    return listAccountsPage(this.db, q);
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    const [r] = await this.db.query<AccountRow & Row>(`SELECT * FROM accounts WHERE id = $1`, [id]);
    return r ? accountFromRow(r) : null;
  }

  async updateAccount(
    id: string,
    patch: { group?: string; disabled?: boolean },
    nowMs: number,
  ): Promise<AdminResult<AccountRecord>> {
    // One statement: the patch applies whole or not at all (an unknown group: nothing).
    const [row] = await this.db.query<AccountRow & Row>(
      `UPDATE accounts SET
         group_name = COALESCE($2::text, group_name),
         disabled_ms = CASE WHEN $3::boolean IS NULL THEN disabled_ms
                            WHEN $3 THEN COALESCE(disabled_ms, $4) ELSE NULL END
       WHERE id = $1 AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM groups WHERE name = $2))
       RETURNING *`,
      [id, patch.group ?? null, patch.disabled ?? null, nowMs],
    );
    if (row) return { ok: true, value: accountFromRow(row) };
    if (!(await this.exists("accounts", "id", id))) return { ok: false, reason: "not_found" };
    return { ok: false, reason: "group_not_found" };
  }

  async moveCredits(
    accountId: string,
    m: { kind: "topup" | "adjust"; amountMicros: number; reason: string; nowMs: number },
  ): Promise<AdminResult<LedgerEntry>> {
    // The condition keeps running tasks' holds covered: an adjustment never takes back
    // credits that are already promised to a task in flight.
    const [row] = await this.db.query<LedgerRow & Row>(
      `WITH moved AS (
         UPDATE accounts SET balance_micros = balance_micros + $2
         WHERE id = $1 AND balance_micros + $2 >= held_micros
         RETURNING id, balance_micros, held_micros)
       INSERT INTO ledger_entries
         (account_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
       SELECT id, $3::text, $2, balance_micros, held_micros, $4::text, $5::bigint FROM moved
       RETURNING *`,
      [accountId, m.amountMicros, m.kind, m.reason, m.nowMs],
    );
    if (row) return { ok: true, value: ledgerFromRow(row) };
    const known = await this.exists("accounts", "id", accountId);
    return { ok: false, reason: known ? "would_go_below_held" : "not_found" };
  }

  async createKey(k: {
    id: string;
    accountId: string;
    hash: string;
    prefix: string;
    settings: KeySettings;
    nowMs: number;
  }): Promise<AdminResult<KeyRecord>> {
    const s = k.settings;
    const [row] = await this.db.query<KeyRow & Row>(
      `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, allowed_models,
         credit_limit_micros, rpm_limit, max_concurrent, expires_s, created_ms)
       SELECT $1::text, a.id, $3::text, $4::text, $5::text, $6::text, $7::bigint, $8::integer,
         $9::integer, $10::bigint, $11::bigint
       FROM accounts a WHERE a.id = $2
       RETURNING *`,
      [
        k.id,
        k.accountId,
        s.name ?? "",
        k.hash,
        k.prefix,
        keyColumnValue("allowedModels", s),
        s.creditLimitMicros ?? null,
        s.rpmLimit ?? null,
        s.maxConcurrent ?? null,
        s.expiresAt ?? null,
        k.nowMs,
      ],
    );
    return row ? { ok: true, value: keyFromRow(row) } : { ok: false, reason: "not_found" };
  }

  async listKeys(accountId: string): Promise<KeyRecord[]> {
    const rows = await this.db.query<KeyRow & Row>(
      `SELECT * FROM api_keys WHERE account_id = $1 ORDER BY created_ms, id`,
      [accountId],
    );
    return rows.map(keyFromRow);
  }

  async getKey(id: string): Promise<KeyRecord | null> {
    const [r] = await this.db.query<KeyRow & Row>(`SELECT * FROM api_keys WHERE id = $1`, [id]);
    return r ? keyFromRow(r) : null;
  }

  async updateKey(id: string, settings: KeySettings): Promise<AdminResult<KeyRecord>> {
    const sets = KEY_COLUMNS.filter(([f]) => settings[f] !== undefined);
    if (sets.length === 0) {
      const key = await this.getKey(id);
      return key ? { ok: true, value: key } : { ok: false, reason: "not_found" };
    }
    const [row] = await this.db.query<KeyRow & Row>(
      `UPDATE api_keys SET ${sets.map(([, c], i) => `${c} = $${i + 2}`).join(", ")}
       WHERE id = $1 RETURNING *`,
      [id, ...sets.map(([f]) => keyColumnValue(f, settings))],
    );
    return row ? { ok: true, value: keyFromRow(row) } : { ok: false, reason: "not_found" };
  }

  async revokeKey(id: string, nowMs: number): Promise<AdminResult<KeyRecord>> {
    const [row] = await this.db.query<KeyRow & Row>(
      `UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1 RETURNING *`,
      [id, nowMs],
    );
    return row ? { ok: true, value: keyFromRow(row) } : { ok: false, reason: "not_found" };
  }

  async listGroups(): Promise<Array<{ name: string; multiplierPpm: number }>> {
    const rows = await this.db.query<{ name: string; multiplier_ppm: number }>(
      `SELECT name, multiplier_ppm FROM groups ORDER BY name`,
    );
    return rows.map((g) => ({ name: g.name, multiplierPpm: Number(g.multiplier_ppm) }));
  }

  async putGroup(name: string, multiplierPpm: number, nowMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET multiplier_ppm = excluded.multiplier_ppm`,
      [name, multiplierPpm, nowMs],
    );
  }

  async listModelPrices(): Promise<Array<{ model: string; priceMicros: number }>> {
    const rows = await this.db.query<{ model: string; price_micros: number }>(
      `SELECT model, price_micros FROM model_prices ORDER BY model`,
    );
    return rows.map((r) => ({ model: r.model, priceMicros: Number(r.price_micros) }));
  }

  async putModelPrice(model: string, priceMicros: number, nowMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO model_prices (model, price_micros, updated_ms) VALUES ($1, $2, $3)
       ON CONFLICT (model) DO UPDATE
         SET price_micros = excluded.price_micros, updated_ms = excluded.updated_ms`,
      [model, priceMicros, nowMs],
    );
  }

  async findTask(taskId: string): Promise<TaskRecord | null> {
    const [r] = await this.db.query<TaskRow & Row>(`SELECT * FROM tasks WHERE id = $1`, [taskId]);
    return r ? taskFromRow(r) : null;
  }

  async listLedger(
    filter: { accountId?: string; taskId?: string },
    q: ListQuery<LedgerPosition>,
  ): Promise<ListPage<LedgerEntry, LedgerPosition>> {
    return listLedgerPage(this.db, filter, q);
  }

  /**
   * The audit's reads in one snapshot (a read-only REPEATABLE READ transaction), so
   * writes that land while it reads are either wholly in it or wholly not. The work
   * is the server's; only a few rows per account come back to be compared.
   */
  async checkLedger(): Promise<LedgerProblem[]> {
    const results = await this.db.tx(async (c) => {
      await c.query(`SET TRANSACTION READ ONLY`);
      const out: unknown[][] = [];
      for (const sql of AUDIT_SQL) out.push(await c.query(sql));
      return out;
    }, "repeatable read");
    return problemsFrom(results);
  }

  async setAdminTokenHash(hash: string): Promise<void> {
    await this.db.query(
      `INSERT INTO settings (key, value) VALUES ('admin_token_hash', $1)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [hash],
    );
  }

  async getWebhookSecret(accountId: string): Promise<string | null> {
    const [r] = await this.db.query<{ webhook_secret: string }>(
      `SELECT webhook_secret FROM accounts WHERE id = $1`,
      [accountId],
    );
    return r?.webhook_secret ?? null;
  }

  async rotateWebhookSecret(accountId: string, secret: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE accounts SET webhook_secret = $2 WHERE id = $1 RETURNING 1`,
      [accountId, secret],
    );
    return rows.length === 1;
  }
}
