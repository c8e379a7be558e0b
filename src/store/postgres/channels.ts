/** Admin-defined channels on PostgreSQL (see store/channels.ts). */
import type { ChannelDefinition } from "../../core/channel-definition.js";
import {
  BREAKER_COLUMNS,
  breakerFromRow,
  breakerValues,
  channelFromRow,
  channelParams,
  type BreakerRow,
  type ChannelRow,
} from "../channel-rows.js";
import type { BreakerState } from "../../core/breaker.js";
import type { ChannelStore, SharedBreaker, StoredChannel } from "../channels.js";
import type { PgDatabase, Row } from "./database.js";

/** The columns a definition writes, in the order of their parameters ($1 …). */
const COLUMNS = [
  "id",
  "model",
  "provider",
  "base_url",
  "api_key_env",
  "api_key_file",
  "upstream_model",
  "priority",
  "weight",
  "max_concurrency",
  "timeout_ms",
  "enabled",
  "options",
] as const;

/** A definition's values in COLUMNS order, then the time ($14). */
function values(d: ChannelDefinition, nowMs: number): unknown[] {
  const p = channelParams(d, nowMs);
  return [...COLUMNS.map((c) => p[c]), p.now];
}

const INSERT_SQL = `INSERT INTO channels (${COLUMNS.join(", ")}, created_ms, updated_ms)
  VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(", ")}, $14, $14)
  ON CONFLICT (id) DO NOTHING RETURNING 1`;

const UPDATE_SQL = `UPDATE channels SET ${COLUMNS.slice(1)
  .map((c, i) => `${c} = $${i + 2}`)
  .join(", ")}, updated_ms = $14
  WHERE id = $1 RETURNING 1`;

export class PgChannels implements ChannelStore {
  constructor(private readonly db: PgDatabase) {}

  async listChannels(): Promise<StoredChannel[]> {
    const rows = await this.db.query<ChannelRow & Row>(
      `SELECT * FROM channels ORDER BY model, priority, id`,
    );
    return rows.map(channelFromRow);
  }

  async createChannel(d: ChannelDefinition, nowMs: number): Promise<boolean> {
    return (await this.db.query(INSERT_SQL, values(d, nowMs))).length === 1;
  }

  async updateChannel(d: ChannelDefinition, nowMs: number): Promise<boolean> {
    return (await this.db.query(UPDATE_SQL, values(d, nowMs))).length === 1;
  }

  async deleteChannel(id: string): Promise<boolean> {
    return (
      (await this.db.query(`DELETE FROM channels WHERE id = $1 RETURNING 1`, [id])).length === 1
    );
  }

  async channelLoad(
    channelIds: readonly string[],
    nowMs: number,
    exceptOwner: string | null = null,
  ): Promise<Map<string, number>> {
    if (channelIds.length === 0) return new Map();
    // One bounded walk of tasks_channel_busy per channel (at most its max_concurrency).
    const rows = await this.db.query<{ channel_id: string; n: number }>(
      `SELECT c.id AS channel_id,
         (SELECT COUNT(*) FROM tasks t WHERE t.channel_id = c.id AND t.status = 'processing'
            AND t.lease_expires_ms >= $2 AND t.lease_owner IS DISTINCT FROM $3) AS n
       FROM unnest($1::text[]) AS c(id)`,
      [channelIds, nowMs, exceptOwner],
    );
    return new Map(rows.filter((r) => Number(r.n) > 0).map((r) => [r.channel_id, Number(r.n)]));
  }

  async listBreakers(): Promise<SharedBreaker[]> {
    const rows = await this.db.query<BreakerRow & Row>(
      `SELECT ${BREAKER_COLUMNS} FROM channel_breakers`,
    );
    return rows.map(breakerFromRow);
  }

  async saveBreaker(channelId: string, state: BreakerState, nowMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO channel_breakers (${BREAKER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (channel_id) DO UPDATE SET state = excluded.state,
         consecutive_failures = excluded.consecutive_failures, open_until_ms = excluded.open_until_ms,
         probing = excluded.probing, updated_ms = excluded.updated_ms`,
      breakerValues(channelId, state, nowMs),
    );
  }
}
