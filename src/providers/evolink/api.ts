/**
 * Where and how to call another EvoLink-compatible gateway (EvoLink itself, or another
 * Darkroom): endpoints, headers, the idempotency key and the channel's options.
 */
import type { ChannelSettings } from "../contract.js";

const base = (channel: ChannelSettings) =>
  (channel.baseUrl ?? "").replace(/\/+$/, "").replace(/\/v1$/, "");

export const submitUrl = (channel: ChannelSettings) => `${base(channel)}/v1/images/generations`;
export const taskUrl = (channel: ChannelSettings, id: string) =>
  `${base(channel)}/v1/tasks/${encodeURIComponent(id)}`;
export const cancelUrl = (channel: ChannelSettings, id: string) => `${taskUrl(channel, id)}/cancel`;

export function authHeaders(channel: ChannelSettings): Record<string, string> {
  return channel.apiKey ? { authorization: `Bearer ${channel.apiKey}` } : {};
}

/**
 * The submission's Idempotency-Key: our task id and the channel id. Sent to every
 * upstream (harmless where ignored) but relied on only with `upstream_kind: "darkroom"`:
 * there a re-run of the task after a crash sends the same key to the same channel and
 * gets the upstream task it already created back (nothing created or charged twice); a
 * failover to another channel is a different key, so it gets a fresh task there. Only
 * the characters the API allows ([A-Za-z0-9._:-], at most 128).
 */
export function idempotencyKey(taskId: string, channelId: string): string {
  return `darkroom:${taskId}:${channelId}`.replace(/[^A-Za-z0-9._:-]/g, "_").slice(0, 128);
}

/** How often the upstream task is polled: `options.poll_interval_ms`, default 1 s. */
export function pollIntervalMs(channel: ChannelSettings): number {
  const v = channel.options.poll_interval_ms;
  return typeof v === "number" && Number.isFinite(v) && v >= 10 ? Math.min(v, 60_000) : 1000;
}

/**
 * What sits upstream, `options.upstream_kind`: `"evolink"` (default: the hosted EvoLink,
 * or any gateway that promises only its public API — submit and poll) or `"darkroom"`
 * (another Darkroom, which also replays an Idempotency-Key for 24 h and accepts
 * `POST /v1/tasks/{id}/cancel`). Only the latter makes a re-run after a crash free and a
 * cancel effective; everything else is treated as may-have-charged.
 */
export const UPSTREAM_KINDS = ["evolink", "darkroom"] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

export function upstreamKind(options: Record<string, unknown>): UpstreamKind {
  return options.upstream_kind === "darkroom" ? "darkroom" : "evolink";
}
