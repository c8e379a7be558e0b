/** Admin JSON shapes: snake_case like the public API, credits as decimal numbers. */
import { microsToCredits } from "../../../core/money.js";
import type { AccountRecord, KeyRecord, LedgerEntry } from "../../../store/admin.js";

export const accountView = (a: AccountRecord) => ({
  id: a.id,
  object: "account",
  name: a.name,
  group: a.group,
  balance: microsToCredits(a.balanceMicros),
  held: microsToCredits(a.heldMicros),
  available: microsToCredits(a.balanceMicros - a.heldMicros),
  used: microsToCredits(a.usedMicros),
  disabled: a.disabled,
  created: a.createdAt,
});

export const keyView = (k: KeyRecord) => ({
  id: k.id,
  object: "api_key",
  account_id: k.accountId,
  name: k.name,
  prefix: k.prefix,
  allowed_models: k.allowedModels,
  credit_limit: k.creditLimitMicros === null ? null : microsToCredits(k.creditLimitMicros),
  unlimited: k.creditLimitMicros === null,
  credits_used: microsToCredits(k.usedMicros),
  credits_held: microsToCredits(k.heldMicros),
  rpm_limit: k.rpmLimit,
  max_concurrent: k.maxConcurrent,
  active_tasks: k.activeTasks,
  expires_at: k.expiresAt,
  revoked_at: k.revokedAt,
  created: k.createdAt,
});

export const ledgerView = (e: LedgerEntry) => ({
  id: e.id,
  object: "ledger_entry",
  account_id: e.accountId,
  api_key_id: e.apiKeyId,
  task_id: e.taskId,
  kind: e.kind,
  amount: microsToCredits(e.amountMicros),
  balance_after: microsToCredits(e.balanceAfterMicros),
  held_after: microsToCredits(e.heldAfterMicros),
  reason: e.reason,
  created: e.createdAt,
});

/** An admin's credit move, for its audit line: the balance before and after, in credits. */
export const moneyMove = (e: LedgerEntry) => ({
  ledgerEntryId: e.id,
  kind: e.kind,
  amount: microsToCredits(e.amountMicros),
  reason: e.reason,
  balanceBefore: microsToCredits(e.balanceAfterMicros - e.amountMicros),
  balanceAfter: microsToCredits(e.balanceAfterMicros),
});
