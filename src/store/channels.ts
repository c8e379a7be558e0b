/**
 * The store seam for admin-defined channels (the `channels` table, migration 003).
 * What a channel is (ChannelDefinition) is part of the core; validation, defaults and
 * secrets belong to config and channels. Each backend implements it
 * (store/sqlite/channels.ts).
 */
import type { ChannelDefinition } from "../core/channel-definition.js";

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
