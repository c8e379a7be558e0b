/**
 * The operator's side of the store: accounts, keys, groups, prices and the ledger.
 * Kept apart from `Store` (the hot path) so the seam the API and runner use stays
 * narrow; each backend implements both.
 *
 * Money rules: every movement is an append-only ledger entry written in the same
 * transaction as the balance it changes, with the balance and hold after it, so the
 * ledger alone can rebuild (and `checkLedger` re-derives) every balance.
 */
import type { ListPage, ListQuery, RowPosition } from "../core/paging.js";
import type { Micros } from "../core/types.js";
import type { OperatorTaskStore } from "./operator-tasks.js";
import type { TaskRecord } from "./store.js";

export interface AccountRecord {
  id: string;
  name: string;
  group: string;
  balanceMicros: Micros;
  heldMicros: Micros;
  usedMicros: Micros;
  disabled: boolean;
  createdAt: number;
}

export interface KeyRecord {
  id: string;
  accountId: string;
  name: string;
  prefix: string;
  allowedModels: string[] | null;
  creditLimitMicros: Micros | null;
  heldMicros: Micros;
  usedMicros: Micros;
  rpmLimit: number | null;
  maxConcurrent: number | null;
  activeTasks: number;
  expiresAt: number | null;
  revokedAt: number | null;
  createdAt: number;
}

export interface LedgerEntry {
  id: number;
  accountId: string;
  apiKeyId: string | null;
  taskId: string | null;
  kind: "topup" | "adjust" | "reserve" | "capture" | "release";
  amountMicros: Micros;
  balanceAfterMicros: Micros;
  heldAfterMicros: Micros;
  reason: string | null;
  createdAt: number;
}

/** Where the ledger pages: its entries' ids only grow, so the id alone is a position. */
export interface LedgerPosition {
  id: number;
}

export interface KeySettings {
  name?: string;
  allowedModels?: string[] | null;
  creditLimitMicros?: Micros | null;
  rpmLimit?: number | null;
  maxConcurrent?: number | null;
  expiresAt?: number | null;
}

export type AdminResult<T> =
  | { ok: true; value: T }
  | { ok: false; reason: "not_found" | "conflict" | "group_not_found" | "would_go_below_held" };

export interface LedgerProblem {
  accountId: string;
  problem: string;
}

/** With the operator's task reads (operator-tasks.ts): every account's tasks, trails, activity. */
export interface AdminStore extends OperatorTaskStore {
  createAccount(a: {
    id: string;
    name: string;
    group: string;
    webhookSecret: string;
    nowMs: number;
  }): Promise<AdminResult<AccountRecord>>;
  /**
   * Accounts, newest first. Like every operator's listing: a page number reaches
   * PAGE_DEPTH rows (deeper throws; the route answers 400 first), a position any depth,
   * and the total is counted up to TOTAL_CAP (`totalCapped` when there are more).
   */
  listAccounts(q: ListQuery<RowPosition>): Promise<ListPage<AccountRecord, RowPosition>>;
  getAccount(id: string): Promise<AccountRecord | null>;
  updateAccount(
    id: string,
    patch: { group?: string; disabled?: boolean },
    nowMs: number,
  ): Promise<AdminResult<AccountRecord>>;
  /** topup: amount > 0; adjust: any sign, never below what running tasks hold. */
  moveCredits(
    accountId: string,
    m: { kind: "topup" | "adjust"; amountMicros: Micros; reason: string; nowMs: number },
  ): Promise<AdminResult<LedgerEntry>>;

  createKey(k: {
    id: string;
    accountId: string;
    hash: string;
    prefix: string;
    settings: KeySettings;
    nowMs: number;
  }): Promise<AdminResult<KeyRecord>>;
  listKeys(accountId: string): Promise<KeyRecord[]>;
  getKey(id: string): Promise<KeyRecord | null>;
  updateKey(id: string, settings: KeySettings): Promise<AdminResult<KeyRecord>>;
  revokeKey(id: string, nowMs: number): Promise<AdminResult<KeyRecord>>;

  listGroups(): Promise<Array<{ name: string; multiplierPpm: number }>>;
  putGroup(name: string, multiplierPpm: number, nowMs: number): Promise<void>;

  listModelPrices(): Promise<Array<{ model: string; priceMicros: Micros }>>;
  putModelPrice(model: string, priceMicros: Micros, nowMs: number): Promise<void>;

  /** Any account's task, whole (an operator's look-up; polls use Store.getTask). */
  findTask(taskId: string): Promise<TaskRecord | null>;

  /** Ledger entries, newest first (as listAccounts). */
  listLedger(
    filter: { accountId?: string; taskId?: string },
    q: ListQuery<LedgerPosition>,
  ): Promise<ListPage<LedgerEntry, LedgerPosition>>;
  /**
   * Re-derives every balance from the ledger; an empty list means consistent. It reads
   * everything (that is its purpose), so a backend runs it off the event loop.
   */
  checkLedger(): Promise<LedgerProblem[]>;

  setAdminTokenHash(hash: string): Promise<void>;
  getWebhookSecret(accountId: string): Promise<string | null>;
  rotateWebhookSecret(accountId: string, secret: string): Promise<boolean>;
}
