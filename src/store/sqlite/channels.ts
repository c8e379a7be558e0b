/** Admin-defined channels on SQLite (see store/channels.ts). */
import type { Statement } from "better-sqlite3";
import type { ChannelDefinition } from "../../core/channel-definition.js";
import { channelFromRow, channelParams, type ChannelRow } from "../channel-rows.js";
import type { ChannelStore, StoredChannel } from "../channels.js";
import type { SqliteConnection } from "./connection.js";

export class SqliteChannels implements ChannelStore {
  private readonly sql: Record<"list" | "insert" | "update" | "remove", Statement>;

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
}
