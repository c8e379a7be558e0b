/** Admin-defined channels on PostgreSQL (see store/channels.ts). */
import type { ChannelDefinition } from "../../core/channel-definition.js";
import { channelFromRow, channelParams, type ChannelRow } from "../channel-rows.js";
import type { ChannelStore, StoredChannel } from "../channels.js";
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
}
