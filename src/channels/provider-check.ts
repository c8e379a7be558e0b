/**
 * A channel checked by its provider (`validateChannel`): one verdict for the config file
 * at boot, the admin API (400 invalid_request) and admin channels loaded on reload
 * (listed with the problem, never used), so a channel the provider would refuse never
 * reaches a task.
 */
import type { Provider } from "../providers/contract.js";
import type { ChannelDefinition } from "../core/channel-definition.js";

export interface ProviderProblem {
  /** The provider's words, without its name prefix or a final period. */
  message: string;
  /** The channel field it names: base_url, upstream_model, else options. */
  param: "base_url" | "upstream_model" | "options";
}

export function providerProblem(provider: Provider, d: ChannelDefinition): ProviderProblem | null {
  if (!provider.validateChannel) return null;
  try {
    provider.validateChannel(d);
    return null;
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err);
    const prefix = `${provider.name}:`;
    const longPrefix = `${provider.name} channel:`;
    let message = raw.startsWith(longPrefix)
      ? raw.slice(longPrefix.length)
      : raw.startsWith(prefix)
        ? raw.slice(prefix.length)
        : raw;
    message = message.trim().replace(/\.$/, "") || "the settings are invalid";
    return { message, param: paramOf(message) };
  }
}

function paramOf(message: string): ProviderProblem["param"] {
  const m = /\b(base_url|upstream_model)\b/.exec(message);
  return m ? (m[1] as "base_url" | "upstream_model") : "options";
}
