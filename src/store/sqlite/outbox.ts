/**
 * The webhook outbox on SQLite: claiming due deliveries with a lease and recording each
 * attempt (group-committed on the writer thread: outbox-writes.ts), and the operator's
 * listing and re-queue.
 */
import type { Statement } from "better-sqlite3";
import type { ListPage, ListQuery, RowPosition } from "../../core/paging.js";
import {
  attemptFromRow,
  deliveryFromRow,
  type AttemptRow,
  type OutboxRow,
} from "../outbox-rows.js";
import type {
  AttemptRecord,
  AttemptResultInput,
  ClaimedDelivery,
  DeliveryFilter,
  DeliveryRecord,
  WebhookStore,
} from "../webhooks.js";
import type { SqliteConnection } from "./connection.js";
import { DELIVERY_LISTING, deliveryWalks } from "../operator-listings.js";
import { Keyset, operatorPage, sqliteOffIndex, type Group } from "./keyset.js";

export class SqliteOutbox implements WebhookStore {
  private readonly sql: Record<"nextDue" | "get" | "requeue", Statement>;
  private readonly listing: Keyset;

  constructor(private readonly conn: SqliteConnection) {
    this.listing = new Keyset(conn, DELIVERY_LISTING);
    this.sql = {
      nextDue: conn.prepare(
        `SELECT MIN(CASE WHEN lease_expires_ms IS NULL OR lease_expires_ms < next_attempt_ms
                         THEN next_attempt_ms ELSE lease_expires_ms END) AS due
         FROM webhook_outbox WHERE status = 'pending'`,
      ),
      get: conn.prepare(`SELECT * FROM webhook_outbox WHERE id = ?`),
      requeue: conn.prepare(
        `UPDATE webhook_outbox SET status = 'pending', attempt_base = attempts, next_attempt_ms = @now,
           lease_token = NULL, lease_expires_ms = NULL, updated_ms = @now
         WHERE id = @id AND status = 'failed'`,
      ),
    };
  }

  async claimDue(limit: number, leaseMs: number, nowMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    return this.conn.enqueue({ kind: "claimDeliveries", limit, leaseMs, nowMs });
  }

  async recordAttempt(input: AttemptResultInput): Promise<boolean> {
    return this.conn.enqueue({ kind: "recordAttempt", input });
  }

  async releaseLease(id: string, leaseToken: string): Promise<void> {
    await this.conn.enqueue({ kind: "releaseDelivery", id, leaseToken });
  }

  async nextDueMs(): Promise<number | null> {
    const r = this.sql.nextDue.get() as { due: number | null } | undefined;
    return r?.due === null || r?.due === undefined ? null : Number(r.due);
  }

  private attemptsOf(ids: string[]): Map<string, AttemptRecord[]> {
    const out = new Map<string, AttemptRecord[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = this.conn
      .prepare(
        `SELECT * FROM webhook_attempts WHERE outbox_id IN (${ids.map(() => "?").join(",")})
         ORDER BY outbox_id, attempt`,
      )
      .all(...ids) as AttemptRow[];
    for (const r of rows) out.get(r.outbox_id)?.push(attemptFromRow(r));
    return out;
  }

  async listDeliveries(
    filter: DeliveryFilter,
    q: ListQuery<RowPosition>,
  ): Promise<ListPage<DeliveryRecord, RowPosition>> {
    const page = operatorPage(
      this.conn,
      this.listing,
      deliveryGroups(filter),
      q,
      (p: RowPosition) => [p.createdMs, p.id],
      {
        row: (r: OutboxRow) => r,
        position: (r) => ({ createdMs: Number(r.created_ms), id: r.id }),
      },
    );
    const attempts = this.attemptsOf(page.data.map((r) => r.id));
    return { ...page, data: page.data.map((r) => deliveryFromRow(r, attempts.get(r.id) ?? [])) };
  }

  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    const r = this.sql.get.get(id) as OutboxRow | undefined;
    if (!r) return null;
    return deliveryFromRow(r, this.attemptsOf([id]).get(id) ?? []);
  }

  async requeueDelivery(
    id: string,
    nowMs: number,
  ): Promise<"requeued" | "not_found" | "not_failed"> {
    return this.conn.write(() => {
      if (this.sql.requeue.run({ id, now: nowMs }).changes === 1) return "requeued";
      return this.sql.get.get(id) ? "not_failed" : "not_found";
    });
  }
}

export { DELIVERY_LISTING } from "../operator-listings.js";

/** The walks a filter takes (operator-listings.ts). */
export function deliveryGroups(f: DeliveryFilter): Group[] {
  return deliveryWalks(f, sqliteOffIndex);
}
