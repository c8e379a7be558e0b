/**
 * The channel part of the DARKROOM_CONFIG file, validated at boot with messages that
 * name the channel and the field:
 *
 *   "channels": [{ "id": "ark-main", "model": "doubao-seedream-4.0", "provider": "ark", ... }],
 *   "sandbox_fallback": true,               // models without channels use the sandbox
 *   "breaker": { "failure_threshold": 3, "cool_down_ms": 30000 },
 *   "channel_reload_ms": 5000               // how often admin changes made elsewhere are picked up
 *
 * Providers are checked later, against the registry (startDarkroom), because tests
 * register extra ones.
 */
import { z } from "zod";
import { DEFAULT_BREAKER, type BreakerSettings } from "../core/breaker.js";
import {
  channelSchema,
  definitionFromJson,
  type ChannelDefinition,
} from "../core/channel-definition.js";
import { resolveSecret } from "./channel-secret.js";

export type EnvLookup = (name: string) => string | undefined;

export interface ChannelsConfig {
  definitions: ChannelDefinition[];
  /** The file's channels' secrets by channel id; memory only, never logged. */
  secrets: ReadonlyMap<string, string | undefined>;
  /** Where admin-defined channels' `api_key_env` names are looked up (a function, so a logged config never carries the environment). */
  lookupEnv: EnvLookup;
  /** false: a model with no channel at all is unavailable (503) instead of served by the sandbox. */
  sandboxFallback: boolean;
  breaker: BreakerSettings;
  reloadMs: number;
  /** How often a process reads the deployment's shared channel state (slots in use, breakers). */
  clusterSyncMs: number;
}

export const channelFileFields = {
  channels: z.array(z.unknown()).optional(),
  sandbox_fallback: z.boolean().optional(),
  breaker: z
    .object({
      failure_threshold: z.number().int().min(1).max(1000).optional(),
      cool_down_ms: z.number().int().min(10).max(3_600_000).optional(),
    })
    .strict()
    .optional(),
  channel_reload_ms: z.number().int().min(100).max(3_600_000).optional(),
  channel_sync_ms: z.number().int().min(50).max(60_000).optional(),
};

export interface ChannelFileSection {
  channels?: unknown[];
  sandbox_fallback?: boolean;
  breaker?: { failure_threshold?: number; cool_down_ms?: number };
  channel_reload_ms?: number;
  channel_sync_ms?: number;
}

/** Throws `fail(message)` (the caller's ConfigError) on the first problem. */
export function loadChannelsConfig(
  file: ChannelFileSection | null,
  modelIds: readonly string[],
  env: Record<string, string | undefined>,
  fail: (message: string) => Error,
): ChannelsConfig {
  const definitions: ChannelDefinition[] = [];
  const secrets = new Map<string, string | undefined>();
  const seen = new Set<string>();
  (file?.channels ?? []).forEach((raw, i) => {
    const r = channelSchema.safeParse(raw);
    const label =
      raw && typeof raw === "object" && typeof (raw as { id?: unknown }).id === "string"
        ? `channel "${(raw as { id: string }).id}"`
        : `channels[${i}]`;
    if (!r.success) {
      const issue = r.error.issues[0];
      const at = issue?.path.join(".");
      throw fail(`config: ${label}: ${at ? `${at}: ` : ""}${issue?.message ?? "is invalid"}`);
    }
    const d = definitionFromJson(r.data);
    if (seen.has(d.id)) throw fail(`config: ${label}: duplicate channel id`);
    seen.add(d.id);
    if (!modelIds.includes(d.model))
      throw fail(`config: ${label}: unknown model "${d.model}" (one of ${modelIds.join(", ")})`);
    const secret = resolveSecret(d, env);
    if (!secret.ok) throw fail(`config: ${label}: ${secret.why}`);
    secrets.set(d.id, secret.apiKey);
    definitions.push(d);
  });
  return {
    definitions,
    secrets,
    lookupEnv: (name) => env[name],
    sandboxFallback: file?.sandbox_fallback ?? true,
    breaker: {
      failureThreshold: file?.breaker?.failure_threshold ?? DEFAULT_BREAKER.failureThreshold,
      coolDownMs: file?.breaker?.cool_down_ms ?? DEFAULT_BREAKER.coolDownMs,
    },
    reloadMs: file?.channel_reload_ms ?? 5000,
    clusterSyncMs: file?.channel_sync_ms ?? 1000,
  };
}
