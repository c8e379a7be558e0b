/** Admin-defined channels on SQLite (see store/channels.ts). */
import type { Statement } from "better-sqlite3";
import type { ChannelDefinition } from "../../core/channel-definition.js";
import type { ChannelStore, StoredChannel } from "../channels.js";
import type { SqliteConnection } from "./connection.js";

interface ChannelRow {
  id: string;
  model: string;
  provider: string;
  base_url: string | null;
  api_key_env: string | null;
  api_key_file: string | null;
  upstream_model: string | null;
  priority: number;
  weight: number;
  max_concurrency: number;
  timeout_ms: number;
  enabled: number;
  options: string;
  created_ms: number;
  updated_ms: number;
}

function fromRow(r: ChannelRow): StoredChannel {
  return {
    id: r.id,
    model: r.model,
    provider: r.provider,
    baseUrl: r.base_url,
    apiKeyEnv: r.api_key_env,
    apiKeyFile: r.api_key_file,
    upstreamModel: r.upstream_model,
    priority: Number(r.priority),
    weight: Number(r.weight),
    maxConcurrency: Number(r.max_concurrency),
    timeoutMs: Number(r.timeout_ms),
    enabled: Number(r.enabled) === 1,
    options: JSON.parse(r.options) as Record<string, unknown>,
    createdAt: Number(r.created_ms),
    updatedAt: Number(r.updated_ms),
  };
}

function params(d: ChannelDefinition, nowMs: number) {
  return {
    id: d.id,
    model: d.model,
    provider: d.provider,
    base_url: d.baseUrl,
    api_key_env: d.apiKeyEnv,
    api_key_file: d.apiKeyFile,
    upstream_model: d.upstreamModel,
    priority: d.priority,
    weight: d.weight,
    max_concurrency: d.maxConcurrency,
    timeout_ms: d.timeoutMs,
    enabled: d.enabled ? 1 : 0,
    options: JSON.stringify(d.options),
    now: nowMs,
  };
}

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
    return (this.sql.list.all() as ChannelRow[]).map(fromRow);
  }

  async createChannel(d: ChannelDefinition, nowMs: number): Promise<boolean> {
    return this.conn.write(() => {
      return this.sql.insert.run(params(d, nowMs)).changes === 1;
    });
  }

  async updateChannel(d: ChannelDefinition, nowMs: number): Promise<boolean> {
    return this.conn.write(() => {
      return this.sql.update.run(params(d, nowMs)).changes === 1;
    });
  }

  async deleteChannel(id: string): Promise<boolean> {
    return this.conn.write(() => {
      return this.sql.remove.run(id).changes === 1;
    });
  }
}
