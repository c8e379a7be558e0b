/**
 * The Gemini settings of one channel, read from ChannelSettings and its `options`:
 *
 * | field / option    | default                                      | meaning                                  |
 * | ----------------- | -------------------------------------------- | ---------------------------------------- |
 * | `base_url`        | `https://generativelanguage.googleapis.com` | the API's address                        |
 * | `upstream_model`  | our model id (`gemini-2.5-flash-image`, …)   | Google's model id                        |
 * | `api_version`     | `v1beta`                                     | the path's version segment               |
 * | `max_image_bytes` | 32 MiB                                       | cap on one decoded result image          |
 *
 * A channel without its key is an operator problem: service_unavailable, which routing
 * may fail over.
 */
import { ProviderError, type ChannelSettings, type ChannelToValidate } from "../contract.js";
import { GEMINI_DEFAULT_BASE } from "./api.js";

export interface GeminiChannel {
  baseUrl: string;
  apiKey: string;
  upstreamModel: string;
  apiVersion: string;
  timeoutMs: number;
  maxImageBytes: number;
}

const DEFAULT_MAX_IMAGE_BYTES = 32 * 1024 * 1024;

/** What is wrong with a channel's Gemini settings, in words for the operator; null if nothing. */
export function geminiChannelProblem(ch: ChannelToValidate): string | null {
  const o = ch.options;
  const v = o.api_version;
  if (v !== undefined && (typeof v !== "string" || !/^v\d+(alpha|beta)?\d*$/.test(v)))
    return 'options.api_version must be a version such as "v1beta" or "v1"';
  const max = o.max_image_bytes;
  if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max <= 0))
    return "options.max_image_bytes must be a positive integer";
  if (ch.upstreamModel && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(ch.upstreamModel))
    return "upstream_model must be a Gemini model id such as gemini-2.5-flash-image";
  return null;
}

export function readGeminiChannel(ch: ChannelSettings, model: string): GeminiChannel {
  if (geminiChannelProblem(ch) || !ch.apiKey)
    throw new ProviderError(
      "service_unavailable",
      "The upstream channel is not configured correctly.",
      true,
      false,
    );
  const o = ch.options;
  return {
    baseUrl: ch.baseUrl ?? GEMINI_DEFAULT_BASE,
    apiKey: ch.apiKey,
    upstreamModel: ch.upstreamModel ?? model,
    apiVersion: (o.api_version as string | undefined) ?? "v1beta",
    timeoutMs: ch.timeoutMs,
    maxImageBytes: (o.max_image_bytes as number | undefined) ?? DEFAULT_MAX_IMAGE_BYTES,
  };
}
