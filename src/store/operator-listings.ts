/**
 * The operator's listings (accounts, ledger, deliveries), whatever the backend: their
 * order and the walks each filter takes (keyset-plan.ts), over the indexes both schemas
 * share (SQLite's migration 004, PostgreSQL's schema.ts).
 *
 * A filter can name a column that is not the walk's: by task, the unique task index
 * already narrows to a handful of rows and the account or status only checks them.
 * SQLite would rather walk the account's index, which gives the order for free but
 * holds all the account's rows, so its backend keeps such a condition off every index
 * with its `+column` idiom (`offIndex`). PostgreSQL weighs the indexes by their
 * statistics and takes the task's on its own; its `offIndex` leaves the column be.
 */
import type { DeliveryStatus, DeliveryFilter } from "./webhooks.js";
import type { Group, KeysetListing } from "./keyset-plan.js";

/** How a backend writes a condition that must not choose the walk's index. */
export type OffIndex = (column: string) => string;

export const ACCOUNT_LISTING: KeysetListing = {
  table: "accounts",
  key: ["created_ms", "id"],
  columns: "*",
  raw: false,
};

/** The ledger pages on its id, which only grows. */
export const LEDGER_LISTING: KeysetListing = {
  table: "ledger_entries",
  key: ["id"],
  columns: "*",
  raw: false,
};

export const DELIVERY_LISTING: KeysetListing = {
  table: "webhook_outbox",
  key: ["created_ms", "id"],
  columns: "*",
  raw: false,
};

/** The ledger's walk for a filter: by task (at most five entries), by account, or all. */
export function ledgerWalk(
  filter: { accountId?: string; taskId?: string },
  offIndex: OffIndex,
): Group {
  if (filter.taskId !== undefined) {
    return [
      ["task_id", filter.taskId],
      ...(filter.accountId !== undefined
        ? [[offIndex("account_id"), filter.accountId] as const]
        : []),
    ];
  }
  return filter.accountId !== undefined ? [["account_id", filter.accountId]] : [];
}

const DELIVERY_STATUSES: DeliveryStatus[] = ["pending", "delivered", "failed"];

/**
 * The walks a delivery filter takes: a task has one delivery (its unique index); a
 * status, with or without the account, is one walk; the account alone, or no filter,
 * merges the three statuses' walks.
 */
export function deliveryWalks(f: DeliveryFilter, offIndex: OffIndex): Group[] {
  const account = f.accountId !== undefined ? [["account_id", f.accountId] as const] : [];
  if (f.taskId !== undefined) {
    return [
      [
        ["task_id", f.taskId],
        ...(f.accountId !== undefined ? [[offIndex("account_id"), f.accountId] as const] : []),
        ...(f.status ? [[offIndex("status"), f.status] as const] : []),
      ],
    ];
  }
  const statuses = f.status ? [f.status] : DELIVERY_STATUSES;
  return statuses.map((status) => [...account, ["status", status] as const]);
}
