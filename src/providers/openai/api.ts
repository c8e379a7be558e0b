/**
 * Where and how to call an OpenAI-style Images API: endpoints, auth header, and the
 * model family (the families differ in what they accept; see request.ts).
 */
import type { ChannelSettings } from "../contract.js";

export type OpenAIFamily = "gpt-image" | "dall-e-3" | "dall-e-2" | "compatible";

/** OpenAI's own families by model id; anything else is an OpenAI-compatible server. */
export function familyOf(upstreamModel: string): OpenAIFamily {
  if (/^gpt-image/i.test(upstreamModel)) return "gpt-image";
  if (/^dall-e-3/i.test(upstreamModel)) return "dall-e-3";
  if (/^dall-e-2/i.test(upstreamModel)) return "dall-e-2";
  return "compatible";
}

/** `{base}/v1/images/<endpoint>`; a base that already ends in /v1 is accepted too. */
export function endpointUrl(channel: ChannelSettings, endpoint: "generations" | "edits"): string {
  const base = (channel.baseUrl ?? "https://api.openai.com")
    .replace(/\/+$/, "")
    .replace(/\/v1$/, "");
  return `${base}/v1/images/${endpoint}`;
}

export function authHeaders(channel: ChannelSettings): Record<string, string> {
  const headers: Record<string, string> = {};
  if (channel.apiKey) headers.authorization = `Bearer ${channel.apiKey}`;
  const org = channel.options.organization;
  if (typeof org === "string" && org) headers["openai-organization"] = org;
  return headers;
}
