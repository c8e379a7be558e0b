/**
 * A channel's secret, read where the definition says (environment variable or file)
 * when the channel is loaded: at boot for the config file's channels, on every
 * (re)load for admin-defined ones (src/channels). Held in memory only.
 */
import { readFileSync } from "node:fs";
import type { ChannelDefinition } from "../core/channel-definition.js";

export type SecretResult = { ok: true; apiKey: string | undefined } | { ok: false; why: string };

/**
 * Reads the channel's secret from the environment or its file. The reason on failure
 * names the variable or the file, never a value.
 */
export function resolveSecret(
  d: Pick<ChannelDefinition, "apiKeyEnv" | "apiKeyFile">,
  env: Record<string, string | undefined>,
): SecretResult {
  if (d.apiKeyEnv) {
    const v = env[d.apiKeyEnv];
    if (!v) return { ok: false, why: `environment variable ${d.apiKeyEnv} is not set` };
    return { ok: true, apiKey: v };
  }
  if (d.apiKeyFile) {
    let v: string;
    try {
      v = readFileSync(d.apiKeyFile, "utf8").trim();
    } catch {
      return { ok: false, why: `cannot read api_key_file ${d.apiKeyFile}` };
    }
    if (!v) return { ok: false, why: `api_key_file ${d.apiKeyFile} is empty` };
    return { ok: true, apiKey: v };
  }
  return { ok: true, apiKey: undefined };
}
