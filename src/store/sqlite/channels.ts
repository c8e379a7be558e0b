/** Admin-defined channels on SQLite (see store/channels.ts). */
import type { Statement } from "better-sqlite3";
import type { BreakerState } from "../../core/breaker.js";
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
import type { ChannelStore, SharedBreaker, StoredChannel } from "../channels.js";
import type { SqliteConnection } from "./connection.js";

export class SqliteChannels implements ChannelStore {
  private readonly sql: Record<
    "list" | "insert" | "update" | "remove" | "load" | "breakers" | "saveBreaker",
    Statement
  >;

  constructor(private readonly conn: SqliteConnection) {
    this.sql = {
      list: conn.prepare(`SELECT * FROM channels ORDER BY model, priority, id`),
      insert: conn.prepare(
        `INSERT INTO channels (id, model, provider, base_url, api_key_env, api_key_file, upstream_model, priority,
           weight, max_concurrency, timeout_ms, enabled, options, created_ms, updated_ms)
         VALUES (@id, @model, @provider, @base_url, @api_key_env, @api_key_file, @upstream_model, @priority,
           @weight, @max_concurrency, @timeout_ms, @enabled, @options, @now, @now)
         ON CONFLICT (id) DO NOTHING`,
      ),
      update: conn.prepare(
        `UPDATE channels SET model = @model, provider = @provider, base_url = @base_url, api_key_env = @api_key_env,
           api_key_file = @api_key_file, upstream_model = @upstream_model, priority = @priority, weight = @weight,
           max_concurrency = @max_concurrency, timeout_ms = @timeout_ms, enabled = @enabled, options = @options,
           updated_ms = @now
         WHERE id = @id`,
      ),
      remove: conn.prepare(`DELETE FROM channels WHERE id = ?`),
      load: conn.prepare(
        `SELECT COUNT(*) AS n FROM tasks WHERE channel_id = ? AND status = 'processing' AND lease_expires_ms >= ?
           AND lease_owner IS NOT ?`,
      ),
      breakers: conn.prepare(`SELECT ${BREAKER_COLUMNS} FROM channel_breakers`),
      saveBreaker: conn.prepare(
        `INSERT INTO channel_breakers (${BREAKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (channel_id) DO UPDATE SET state = excluded.state,
           consecutive_failures = excluded.consecutive_failures, open_until_ms = excluded.open_until_ms,
           probing = excluded.probing, updated_ms = excluded.updated_ms`,
      ),
    };
  }

  async listChannels(): Promise<StoredChannel[]> {
    return (this.sql.list.all() as ChannelRow[]).map(channelFromRow);
  }

  async createChannel(d: ChannelDefinition, nowMs: number): Promise<boolean> {
    return this.conn.write(() => {
      return this.sql.insert.run(channelParams(d, nowMs)).changes === 1;
    });
  }

  async updateChannel(d: ChannelDefinition, nowMs: number): Promise<boolean> {
    return this.conn.write(() => {
      return this.sql.update.run(channelParams(d, nowMs)).changes === 1;
    });
  }

  async deleteChannel(id: string): Promise<boolean> {
    return this.conn.write(() => {
      return this.sql.remove.run(id).changes === 1;
    });
  }

  async channelLoad(
    channelIds: readonly string[],
    nowMs: number,
    exceptOwner: string | null = null,
  ): Promise<Map<string, number>> {
    const load = new Map<string, number>();
    for (const id of channelIds) {
      const r = this.sql.load.get(id, nowMs, exceptOwner) as { n: number };
      if (r.n > 0) load.set(id, Number(r.n));
    }
    return load;
  }

  async listBreakers(): Promise<SharedBreaker[]> {
    return (this.sql.breakers.all() as BreakerRow[]).map(breakerFromRow);
  }

  async saveBreaker(channelId: string, state: BreakerState, nowMs: number): Promise<void> {
    await this.conn.write(() =>
      this.sql.saveBreaker.run(...breakerValues(channelId, state, nowMs)),
    );
  }
}
