/**
 * Row ↔ record mapping for admin-defined channels, shared by the SQL backends (their
 * column names and encodings match; see rows.ts).
 */
import type { BreakerState, BreakerStateName } from "../core/breaker.js";
import type { ChannelDefinition } from "../core/channel-definition.js";
import type { SharedBreaker, StoredChannel } from "./channels.js";

export interface ChannelRow {
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

export function channelFromRow(r: ChannelRow): StoredChannel {
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

export function channelParams(d: ChannelDefinition, nowMs: number) {
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

/** The columns of `channel_breakers`, in the order breakerValues gives them. */
export const BREAKER_COLUMNS =
  "channel_id, state, consecutive_failures, open_until_ms, probing, updated_ms";

export interface BreakerRow {
  channel_id: string;
  state: BreakerStateName;
  consecutive_failures: number;
  open_until_ms: number;
  probing: number;
  updated_ms: number;
}

export function breakerFromRow(r: BreakerRow): SharedBreaker {
  return {
    channelId: r.channel_id,
    state: {
      state: r.state,
      consecutiveFailures: Number(r.consecutive_failures),
      openUntil: Number(r.open_until_ms),
      probing: Number(r.probing) === 1,
    },
    updatedMs: Number(r.updated_ms),
  };
}

/** A breaker's row values, in BREAKER_COLUMNS order. */
export function breakerValues(channelId: string, b: BreakerState, nowMs: number): unknown[] {
  return [channelId, b.state, b.consecutiveFailures, b.openUntil, b.probing ? 1 : 0, nowMs];
}
