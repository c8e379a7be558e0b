/**
 * The store seam for admin-defined channels (the `channels` table, migration 003), and
 * the plain shape of a channel it stores. Validation, defaults and secrets are the
 * channels layer's business (channels/definition.ts); the store only keeps the data.
 * Each backend implements it (store/sqlite/channels.ts).
 */

/**
 * What a channel is: one upstream account serving one of our models. The secret is
 * never part of it: a channel names an environment variable or a file.
 */
export interface ChannelDefinition {
  id: string;
  model: string;
  provider: string;
  baseUrl: string | null;
  apiKeyEnv: string | null;
  apiKeyFile: string | null;
  upstreamModel: string | null;
  /** Lower number = tried first. */
  priority: number;
  /** Share of calls within its priority tier. */
  weight: number;
  maxConcurrency: number;
  timeoutMs: number;
  enabled: boolean;
  options: Record<string, unknown>;
}

export interface StoredChannel extends ChannelDefinition {
  createdAt: number;
  updatedAt: number;
}

export interface ChannelStore {
  listChannels(): Promise<StoredChannel[]>;
  /** false when the id is taken. */
  createChannel(d: ChannelDefinition, nowMs: number): Promise<boolean>;
  /** false when there is no such channel. */
  updateChannel(d: ChannelDefinition, nowMs: number): Promise<boolean>;
  deleteChannel(id: string): Promise<boolean>;
}
