/**
 * The Ark settings of one channel, read from ChannelSettings and its `options`:
 *
 * | option            | default    | meaning                                                         |
 * | ----------------- | ---------- | --------------------------------------------------------------- |
 * | `watermark`       | `false`    | the "AI generated" mark; always sent explicitly (Ark's default is true) |
 * | `response_format` | `b64_json` | `b64_json` (bytes inline) or `url` (downloaded by us at once)   |
 * | `stream`          | `true`     | SSE: real progress, and each image stored as soon as it exists  |
 * | `max_image_bytes` | 32 MiB     | cap on one image (decoded or downloaded)                        |
 *
 * A channel missing its base URL, key or upstream model id is an operator problem:
 * service_unavailable, which routing may fail over.
 */
import { ProviderError, type ChannelSettings, type ChannelToValidate } from "../contract.js";

export interface ArkChannel {
  baseUrl: string;
  apiKey: string;
  upstreamModel: string;
  timeoutMs: number;
  watermark: boolean;
  responseFormat: "b64_json" | "url";
  stream: boolean;
  maxImageBytes: number;
}

const DEFAULT_MAX_IMAGE_BYTES = 32 * 1024 * 1024;

function misconfigured(): ProviderError {
  return new ProviderError(
    "service_unavailable",
    "The upstream channel is not configured correctly.",
    true,
    false,
  );
}

/** What is wrong with a channel's Ark settings, in words for the operator; null if nothing. */
export function arkChannelProblem(ch: ChannelToValidate): string | null {
  const o = ch.options;
  for (const k of ["watermark", "stream"]) {
    if (o[k] !== undefined && typeof o[k] !== "boolean") return `options.${k} must be a boolean`;
  }
  if (
    o.response_format !== undefined &&
    o.response_format !== "b64_json" &&
    o.response_format !== "url"
  )
    return 'options.response_format must be "b64_json" or "url"';
  const max = o.max_image_bytes;
  if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max <= 0))
    return "options.max_image_bytes must be a positive integer";
  if (!ch.baseUrl) return "base_url is required";
  if (!ch.upstreamModel) return "upstream_model is required (Ark's model or endpoint id)";
  return null;
}

export function readArkChannel(ch: ChannelSettings): ArkChannel {
  if (arkChannelProblem(ch) || !ch.baseUrl || !ch.apiKey || !ch.upstreamModel)
    throw misconfigured();
  const o = ch.options;
  return {
    baseUrl: ch.baseUrl,
    apiKey: ch.apiKey,
    upstreamModel: ch.upstreamModel,
    timeoutMs: ch.timeoutMs,
    watermark: (o.watermark as boolean | undefined) ?? false,
    responseFormat: (o.response_format as "b64_json" | "url" | undefined) ?? "b64_json",
    stream: (o.stream as boolean | undefined) ?? true,
    maxImageBytes: (o.max_image_bytes as number | undefined) ?? DEFAULT_MAX_IMAGE_BYTES,
  };
}
