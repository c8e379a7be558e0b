/**
 * Row ↔ record mapping for the operator's tables (accounts, keys, ledger), shared by
 * the SQL backends: their column names and encodings match (see rows.ts).
 */
import type { AccountRecord, KeyRecord, KeySettings, LedgerEntry } from "./admin.js";

export interface AccountRow {
  id: string;
  name: string;
  group_name: string;
  balance_micros: number;
  held_micros: number;
  used_micros: number;
  disabled_ms: number | null;
  created_ms: number;
}

export interface KeyRow {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  allowed_models: string | null;
  credit_limit_micros: number | null;
  held_micros: number;
  used_micros: number;
  rpm_limit: number | null;
  max_concurrent: number | null;
  active_tasks: number;
  expires_s: number | null;
  revoked_ms: number | null;
  created_ms: number;
}

export interface LedgerRow {
  id: number;
  account_id: string;
  api_key_id: string | null;
  task_id: string | null;
  kind: LedgerEntry["kind"];
  amount_micros: number;
  balance_after_micros: number;
  held_after_micros: number;
  reason: string | null;
  created_ms: number;
}

const nn = (v: number | null) => (v === null ? null : Number(v));

export const accountFromRow = (r: AccountRow): AccountRecord => ({
  id: r.id,
  name: r.name,
  group: r.group_name,
  balanceMicros: Number(r.balance_micros),
  heldMicros: Number(r.held_micros),
  usedMicros: Number(r.used_micros),
  disabled: r.disabled_ms !== null,
  createdAt: Math.floor(Number(r.created_ms) / 1000),
});

export const keyFromRow = (r: KeyRow): KeyRecord => ({
  id: r.id,
  accountId: r.account_id,
  name: r.name,
  prefix: r.prefix,
  allowedModels: r.allowed_models ? (JSON.parse(r.allowed_models) as string[]) : null,
  creditLimitMicros: nn(r.credit_limit_micros),
  heldMicros: Number(r.held_micros),
  usedMicros: Number(r.used_micros),
  rpmLimit: nn(r.rpm_limit),
  maxConcurrent: nn(r.max_concurrent),
  activeTasks: Number(r.active_tasks),
  expiresAt: nn(r.expires_s),
  revokedAt: r.revoked_ms === null ? null : Math.floor(Number(r.revoked_ms) / 1000),
  createdAt: Math.floor(Number(r.created_ms) / 1000),
});

export const ledgerFromRow = (r: LedgerRow): LedgerEntry => ({
  id: Number(r.id),
  accountId: r.account_id,
  apiKeyId: r.api_key_id,
  taskId: r.task_id,
  kind: r.kind,
  amountMicros: Number(r.amount_micros),
  balanceAfterMicros: Number(r.balance_after_micros),
  heldAfterMicros: Number(r.held_after_micros),
  reason: r.reason,
  createdAt: Math.floor(Number(r.created_ms) / 1000),
});

/** The settings an update may change, each with its column. */
export const KEY_COLUMNS: Array<[keyof KeySettings, string]> = [
  ["name", "name"],
  ["allowedModels", "allowed_models"],
  ["creditLimitMicros", "credit_limit_micros"],
  ["rpmLimit", "rpm_limit"],
  ["maxConcurrent", "max_concurrent"],
  ["expiresAt", "expires_s"],
];

/** A setting as its column stores it (allowed models as JSON text). */
export function keyColumnValue(field: keyof KeySettings, s: KeySettings): unknown {
  const v = s[field];
  if (field === "allowedModels") return v === null || v === undefined ? null : JSON.stringify(v);
  return v ?? null;
}
