/**
 * What a channel is: one upstream account serving one of our models. Defined in the
 * DARKROOM_CONFIG file (`"channels": [...]`, read-only through the API) or through the
 * admin API (stored in the `channels` table). Both use the same snake_case JSON shape,
 * validated by one zod schema.
 *
 * The secret is never part of the definition: it names an environment variable
 * (`api_key_env`) or a file (`api_key_file`), resolved when the channel is loaded
 * (config/channel-secret.ts), held only in memory and never echoed by the API or the logs.
 */
import { z } from "zod";

export const CHANNEL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

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

/** Where a channel comes from: the config file and the built-in sandbox are read-only. */
export type ChannelSource = "config" | "admin" | "builtin";

const fields = {
  model: z.string().min(1).max(200),
  provider: z.string().min(1).max(64),
  base_url: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, "must be an http(s) URL")
    .nullable(),
  api_key_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must be an environment variable name")
    .nullable(),
  api_key_file: z.string().min(1).max(4096).nullable(),
  upstream_model: z.string().min(1).max(200).nullable(),
  priority: z.number().int().min(0).max(1_000_000),
  weight: z.number().positive().max(1_000_000),
  max_concurrency: z.number().int().min(1).max(100_000),
  timeout_ms: z.number().int().min(100).max(3_600_000),
  enabled: z.boolean(),
  options: z.record(z.unknown()),
};

const DEFAULTS = {
  base_url: null,
  api_key_env: null,
  api_key_file: null,
  upstream_model: null,
  priority: 0,
  weight: 1,
  max_concurrency: 8,
  timeout_ms: 120_000,
  enabled: true,
  options: {},
} as const;

const channelFields = z.object({
  id: z.string().regex(CHANNEL_ID_RE, "must be 1-64 letters, digits and . _ : -"),
  model: fields.model,
  provider: fields.provider,
  base_url: fields.base_url.optional(),
  api_key_env: fields.api_key_env.optional(),
  api_key_file: fields.api_key_file.optional(),
  upstream_model: fields.upstream_model.optional(),
  priority: fields.priority.optional(),
  weight: fields.weight.optional(),
  max_concurrency: fields.max_concurrency.optional(),
  timeout_ms: fields.timeout_ms.optional(),
  enabled: fields.enabled.optional(),
  options: fields.options.optional(),
});

/** A full channel (config file entry, or admin POST). */
export const channelSchema = channelFields
  .strict()
  .refine((c) => !(c.api_key_env && c.api_key_file), {
    message: "give api_key_env or api_key_file, not both",
    path: ["api_key_env"],
  });

/** An admin PATCH: any field but the id. */
export const channelPatchSchema = channelFields.omit({ id: true }).partial().strict();

export type ChannelJson = z.infer<typeof channelSchema>;
export type ChannelPatchJson = z.infer<typeof channelPatchSchema>;

export function definitionFromJson(j: ChannelJson): ChannelDefinition {
  return {
    id: j.id,
    model: j.model,
    provider: j.provider,
    baseUrl: j.base_url ?? DEFAULTS.base_url,
    apiKeyEnv: j.api_key_env ?? DEFAULTS.api_key_env,
    apiKeyFile: j.api_key_file ?? DEFAULTS.api_key_file,
    upstreamModel: j.upstream_model ?? DEFAULTS.upstream_model,
    priority: j.priority ?? DEFAULTS.priority,
    weight: j.weight ?? DEFAULTS.weight,
    maxConcurrency: j.max_concurrency ?? DEFAULTS.max_concurrency,
    timeoutMs: j.timeout_ms ?? DEFAULTS.timeout_ms,
    enabled: j.enabled ?? DEFAULTS.enabled,
    options: j.options ?? { ...DEFAULTS.options },
  };
}

export function applyPatch(d: ChannelDefinition, p: ChannelPatchJson): ChannelDefinition {
  const next = { ...d };
  if (p.model !== undefined) next.model = p.model;
  if (p.provider !== undefined) next.provider = p.provider;
  if (p.base_url !== undefined) next.baseUrl = p.base_url;
  // Setting one secret reference replaces the other.
  if (p.api_key_env !== undefined) {
    next.apiKeyEnv = p.api_key_env;
    if (p.api_key_env !== null) next.apiKeyFile = null;
  }
  if (p.api_key_file !== undefined) {
    next.apiKeyFile = p.api_key_file;
    if (p.api_key_file !== null) next.apiKeyEnv = null;
  }
  if (p.upstream_model !== undefined) next.upstreamModel = p.upstream_model;
  if (p.priority !== undefined) next.priority = p.priority;
  if (p.weight !== undefined) next.weight = p.weight;
  if (p.max_concurrency !== undefined) next.maxConcurrency = p.max_concurrency;
  if (p.timeout_ms !== undefined) next.timeoutMs = p.timeout_ms;
  if (p.enabled !== undefined) next.enabled = p.enabled;
  if (p.options !== undefined) next.options = p.options;
  return next;
}
