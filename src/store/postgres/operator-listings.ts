/** TEMPORARY stub until the shared keyset plan lands (pg-tasks). */
import type { ListPage, ListQuery, RowPosition } from "../../core/paging.js";
import type { AccountRecord, LedgerEntry, LedgerPosition } from "../admin.js";
import type { OutboxRow } from "../outbox-rows.js";
import type { DeliveryFilter } from "../webhooks.js";
import type { PgDatabase } from "./database.js";

export async function listAccountsPage(
  _db: PgDatabase,
  _q: ListQuery<RowPosition>,
): Promise<ListPage<AccountRecord, RowPosition>> {
  throw new Error("not yet");
}
export async function listLedgerPage(
  _db: PgDatabase,
  _f: { accountId?: string; taskId?: string },
  _q: ListQuery<LedgerPosition>,
): Promise<ListPage<LedgerEntry, LedgerPosition>> {
  throw new Error("not yet");
}
export async function listDeliveriesPage(
  _db: PgDatabase,
  _f: DeliveryFilter,
  _q: ListQuery<RowPosition>,
): Promise<ListPage<OutboxRow, RowPosition>> {
  throw new Error("not yet");
}
