/**
 * The operator's listings on PostgreSQL: accounts, ledger and deliveries, each a page
 * of keyset walks (store/operator-listings.ts) and its total counted up to TOTAL_CAP,
 * read in one snapshot (pgOperatorPage). A delivery page comes back as rows: the
 * outbox adds their attempts.
 */
import type { ListPage, ListQuery, RowPosition } from "../../core/paging.js";
import type { AccountRecord, LedgerEntry, LedgerPosition } from "../admin.js";
import { accountFromRow, ledgerFromRow, type AccountRow, type LedgerRow } from "../admin-rows.js";
import {
  ACCOUNT_LISTING,
  DELIVERY_LISTING,
  deliveryWalks,
  LEDGER_LISTING,
  ledgerWalk,
  type OffIndex,
} from "../operator-listings.js";
import type { OutboxRow } from "../outbox-rows.js";
import type { DeliveryFilter } from "../webhooks.js";
import type { PgDatabase } from "./database.js";
import { PgKeyset, pgOperatorPage } from "./keyset.js";

/** PostgreSQL chooses the task's index by its statistics: no idiom needed. */
const asIs: OffIndex = (column) => column;

const accounts = new PgKeyset(ACCOUNT_LISTING);
const ledger = new PgKeyset(LEDGER_LISTING);
const deliveries = new PgKeyset(DELIVERY_LISTING);

const rowKey = (p: RowPosition) => [p.createdMs, p.id];
const rowPosition = (r: { created_ms: number; id: string }): RowPosition => ({
  createdMs: Number(r.created_ms),
  id: r.id,
});

export function listAccountsPage(
  db: PgDatabase,
  q: ListQuery<RowPosition>,
): Promise<ListPage<AccountRecord, RowPosition>> {
  return pgOperatorPage(db, accounts, [[]], q, rowKey, {
    row: (r: AccountRow) => accountFromRow(r),
    position: rowPosition,
  });
}

export function listLedgerPage(
  db: PgDatabase,
  filter: { accountId?: string; taskId?: string },
  q: ListQuery<LedgerPosition>,
): Promise<ListPage<LedgerEntry, LedgerPosition>> {
  return pgOperatorPage(db, ledger, [ledgerWalk(filter, asIs)], q, (p) => [p.id], {
    row: (r: LedgerRow) => ledgerFromRow(r),
    position: (r: LedgerRow) => ({ id: Number(r.id) }),
  });
}

export function listDeliveriesPage(
  db: PgDatabase,
  filter: DeliveryFilter,
  q: ListQuery<RowPosition>,
): Promise<ListPage<OutboxRow, RowPosition>> {
  return pgOperatorPage(db, deliveries, deliveryWalks(filter, asIs), q, rowKey, {
    row: (r: OutboxRow) => r,
    position: rowPosition,
  });
}
