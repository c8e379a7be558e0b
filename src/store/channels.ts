/**
 * The store seam for admin-defined channels (the `channels` table, migration 003).
 * What a channel is (ChannelDefinition) is part of the core; validation, defaults and
 * secrets belong to config and channels. Each backend implements it
 * (store/sqlite/channels.ts).
 */
import type { BreakerState } from "../core/breaker.js";
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

  /**
   * How many calls each of these channels has in flight across every process: its
   * `processing` tasks marked on it whose lease is live at `nowMs` (and not owned by
   * `exceptOwner`). Bounded by the channels' max_concurrency (markChannel enforces it),
   * so cheap.
   */
  channelLoad(
    channelIds: readonly string[],
    nowMs: number,
    /** Leave out the calls of this lease owner (the asking process's own runner). */
    exceptOwner?: string | null,
  ): Promise<Map<string, number>>;
  /** Every shared breaker state, with when it was last written. */
  listBreakers(): Promise<SharedBreaker[]>;
  /** Records a channel's breaker after a transition in any process. */
  saveBreaker(channelId: string, state: BreakerState, nowMs: number): Promise<void>;
}

export interface SharedBreaker {
  channelId: string;
  state: BreakerState;
  updatedMs: number;
}
