/** AdminStore on SQLite: accounts, keys, groups, prices and the ledger. */
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
import type { OperatorTaskStore } from "../operator-tasks.js";
import type { TaskRecord } from "../store.js";
import { SqliteOperatorTasks } from "./operator-tasks.js";
import { auditLedger, auditOnThread } from "./audit.js";
import type { SqliteConnection } from "./connection.js";
import { ACCOUNT_LISTING, LEDGER_LISTING, ledgerWalk } from "../operator-listings.js";
import { Keyset, operatorPage, sqliteOffIndex, type Group } from "./keyset.js";
import { taskFromRow, type TaskRow } from "../rows.js";

export { ACCOUNT_LISTING, LEDGER_LISTING } from "../operator-listings.js";

/** The ledger's walk for a filter (operator-listings.ts). */
export function ledgerGroup(filter: { accountId?: string; taskId?: string }): Group {
  return ledgerWalk(filter, sqliteOffIndex);
}

const rowPosition = (p: RowPosition) => [p.createdMs, p.id];

export class SqliteAdmin implements AdminStore {
  private readonly accounts: Keyset;
  private readonly ledger: Keyset;
  private readonly tasks: SqliteOperatorTasks;

  constructor(private readonly conn: SqliteConnection) {
    this.accounts = new Keyset(conn, ACCOUNT_LISTING);
    this.ledger = new Keyset(conn, LEDGER_LISTING);
    this.tasks = new SqliteOperatorTasks(conn);
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

  private account(id: string): AccountRecord | null {
    const r = this.conn.prepare(`SELECT * FROM accounts WHERE id = ?`).get(id) as
      AccountRow | undefined;
    return r ? accountFromRow(r) : null;
  }

  private key(id: string): KeyRecord | null {
    const r = this.conn.prepare(`SELECT * FROM api_keys WHERE id = ?`).get(id) as
      KeyRow | undefined;
    return r ? keyFromRow(r) : null;
  }

  private groupExists(name: string): boolean {
    return this.conn.prepare(`SELECT 1 FROM groups WHERE name = ?`).get(name) !== undefined;
  }

  async createAccount(a: {
    id: string;
    name: string;
    group: string;
    webhookSecret: string;
    nowMs: number;
  }): Promise<AdminResult<AccountRecord>> {
    return this.conn.write(() => {
      if (!this.groupExists(a.group)) return { ok: false, reason: "group_not_found" };
      const r = this.conn
        .prepare(
          `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO NOTHING`,
        )
        .run(a.id, a.name, a.group, a.webhookSecret, a.nowMs);
      if (r.changes !== 1) return { ok: false, reason: "conflict" };
      return { ok: true, value: this.account(a.id)! };
    });
  }

  async listAccounts(q: ListQuery<RowPosition>): Promise<ListPage<AccountRecord, RowPosition>> {
    return operatorPage(this.conn, this.accounts, [[]], q, rowPosition, {
      row: accountFromRow,
      position: (r: AccountRow) => ({ createdMs: Number(r.created_ms), id: r.id }),
    });
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    return this.account(id);
  }

  async updateAccount(
    id: string,
    patch: { group?: string; disabled?: boolean },
    nowMs: number,
  ): Promise<AdminResult<AccountRecord>> {
    return this.conn.write(() => {
      if (!this.account(id)) return { ok: false, reason: "not_found" };
      if (patch.group !== undefined && !this.groupExists(patch.group))
        return { ok: false, reason: "group_not_found" };
      this.conn.transaction(() => {
        if (patch.group !== undefined)
          this.conn.prepare(`UPDATE accounts SET group_name = ? WHERE id = ?`).run(patch.group, id);
        if (patch.disabled !== undefined) {
          this.conn
            .prepare(
              `UPDATE accounts SET disabled_ms = CASE WHEN ? THEN COALESCE(disabled_ms, ?) ELSE NULL END WHERE id = ?`,
            )
            .run(patch.disabled ? 1 : 0, nowMs, id);
        }
      })();
      return { ok: true, value: this.account(id)! };
    });
  }

  async moveCredits(
    accountId: string,
    m: { kind: "topup" | "adjust"; amountMicros: number; reason: string; nowMs: number },
  ): Promise<AdminResult<LedgerEntry>> {
    return this.conn.write(() => {
      return this.conn
        .transaction((): AdminResult<LedgerEntry> => {
          // The condition keeps running tasks' holds covered: an adjustment never takes
          // back credits that are already promised to a task in flight.
          const after = this.conn
            .prepare(
              `UPDATE accounts SET balance_micros = balance_micros + @amount
           WHERE id = @id AND balance_micros + @amount >= held_micros
           RETURNING balance_micros, held_micros`,
            )
            .get({ id: accountId, amount: m.amountMicros }) as
            { balance_micros: number; held_micros: number } | undefined;
          if (!after)
            return {
              ok: false,
              reason: this.account(accountId) ? "would_go_below_held" : "not_found",
            };
          const row = this.conn
            .prepare(
              `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
            )
            .get(
              accountId,
              m.kind,
              m.amountMicros,
              after.balance_micros,
              after.held_micros,
              m.reason,
              m.nowMs,
            ) as LedgerRow;
          return { ok: true, value: ledgerFromRow(row) };
        })
        .immediate();
    });
  }

  async createKey(k: {
    id: string;
    accountId: string;
    hash: string;
    prefix: string;
    settings: KeySettings;
    nowMs: number;
  }): Promise<AdminResult<KeyRecord>> {
    return this.conn.write(() => {
      if (!this.account(k.accountId)) return { ok: false, reason: "not_found" };
      const s = k.settings;
      this.conn
        .prepare(
          `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, allowed_models, credit_limit_micros, rpm_limit, max_concurrent, expires_s, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
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
        );
      return { ok: true, value: this.key(k.id)! };
    });
  }

  async listKeys(accountId: string): Promise<KeyRecord[]> {
    return (
      this.conn
        .prepare(`SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_ms, id`)
        .all(accountId) as KeyRow[]
    ).map(keyFromRow);
  }

  async getKey(id: string): Promise<KeyRecord | null> {
    return this.key(id);
  }

  async updateKey(id: string, settings: KeySettings): Promise<AdminResult<KeyRecord>> {
    return this.conn.write(() => {
      if (!this.key(id)) return { ok: false, reason: "not_found" };
      const sets = KEY_COLUMNS.filter(([f]) => settings[f] !== undefined);
      if (sets.length > 0) {
        const sql = `UPDATE api_keys SET ${sets.map(([, c]) => `${c} = ?`).join(", ")} WHERE id = ?`;
        this.conn.prepare(sql).run(...sets.map(([f]) => keyColumnValue(f, settings)), id);
      }
      return { ok: true, value: this.key(id)! };
    });
  }

  async revokeKey(id: string, nowMs: number): Promise<AdminResult<KeyRecord>> {
    return this.conn.write(() => {
      const r = this.conn
        .prepare(`UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, ?) WHERE id = ?`)
        .run(nowMs, id);
      if (r.changes !== 1) return { ok: false, reason: "not_found" };
      return { ok: true, value: this.key(id)! };
    });
  }

  async listGroups(): Promise<Array<{ name: string; multiplierPpm: number }>> {
    return (
      this.conn.prepare(`SELECT name, multiplier_ppm FROM groups ORDER BY name`).all() as Array<{
        name: string;
        multiplier_ppm: number;
      }>
    ).map((g) => ({ name: g.name, multiplierPpm: Number(g.multiplier_ppm) }));
  }

  async putGroup(name: string, multiplierPpm: number, nowMs: number): Promise<void> {
    return this.conn.write(() => {
      this.conn
        .prepare(
          `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET multiplier_ppm = excluded.multiplier_ppm`,
        )
        .run(name, multiplierPpm, nowMs);
    });
  }

  async listModelPrices(): Promise<Array<{ model: string; priceMicros: number }>> {
    return (
      this.conn
        .prepare(`SELECT model, price_micros FROM model_prices ORDER BY model`)
        .all() as Array<{ model: string; price_micros: number }>
    ).map((r) => ({ model: r.model, priceMicros: Number(r.price_micros) }));
  }

  async putModelPrice(model: string, priceMicros: number, nowMs: number): Promise<void> {
    return this.conn.write(() => {
      this.conn
        .prepare(
          `INSERT INTO model_prices (model, price_micros, updated_ms) VALUES (?, ?, ?)
         ON CONFLICT (model) DO UPDATE SET price_micros = excluded.price_micros, updated_ms = excluded.updated_ms`,
        )
        .run(model, priceMicros, nowMs);
    });
  }

  async findTask(taskId: string): Promise<TaskRecord | null> {
    const r = this.conn.prepare(`SELECT * FROM tasks WHERE id = ?`).get(taskId) as
      TaskRow | undefined;
    return r ? taskFromRow(r) : null;
  }

  async listLedger(
    filter: { accountId?: string; taskId?: string },
    q: ListQuery<LedgerPosition>,
  ): Promise<ListPage<LedgerEntry, LedgerPosition>> {
    const group = ledgerGroup(filter);
    return operatorPage(this.conn, this.ledger, [group], q, (p) => [p.id], {
      row: ledgerFromRow,
      position: (r: LedgerRow) => ({ id: Number(r.id) }),
    });
  }

  /**
   * The audit reads every account, ledger entry and task: at ten million tasks that is
   * seconds of work, which must not hold the event loop, so its reads run on a thread
   * of their own (audit.ts). An in-memory database has no second connection: there it
   * runs here, small as such databases are (tests).
   */
  async checkLedger(): Promise<LedgerProblem[]> {
    if (this.conn.file === ":memory:") return auditLedger(this.conn);
    return auditOnThread(this.conn.file);
  }

  async setAdminTokenHash(hash: string): Promise<void> {
    return this.conn.write(() => {
      this.conn
        .prepare(
          `INSERT INTO settings (key, value) VALUES ('admin_token_hash', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        )
        .run(hash);
    });
  }

  async getWebhookSecret(accountId: string): Promise<string | null> {
    const r = this.conn
      .prepare(`SELECT webhook_secret FROM accounts WHERE id = ?`)
      .get(accountId) as { webhook_secret: string } | undefined;
    return r?.webhook_secret ?? null;
  }

  async rotateWebhookSecret(accountId: string, secret: string): Promise<boolean> {
    return this.conn.write(() => {
      return (
        this.conn
          .prepare(`UPDATE accounts SET webhook_secret = ? WHERE id = ?`)
          .run(secret, accountId).changes === 1
      );
    });
  }
}
