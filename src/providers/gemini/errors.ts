/**
 * Gemini's answers that are not images → our ProviderError. Pure. Error bodies are
 * Google's `{"error": {"code", "message", "status", "details"}}`, read for their status,
 * reason and retry delay only: our messages never carry upstream text, hosts or keys.
 *
 * | HTTP | status (reason)                                   | ours                     | another channel?  |
 * |------|---------------------------------------------------|--------------------------|-------------------|
 * | 400  | INVALID_ARGUMENT (API_KEY_INVALID)                | service_unavailable      | yes               |
 * | 400  | FAILED_PRECONDITION (billing, region)             | service_unavailable      | yes               |
 * | 400  | INVALID_ARGUMENT, about an input image            | image_processing_error   | no                |
 * | 400  | INVALID_ARGUMENT, anything else                   | invalid_parameters       | no                |
 * | 401/403 | UNAUTHENTICATED, PERMISSION_DENIED             | service_unavailable      | yes               |
 * | 404  | NOT_FOUND (model)                                 | service_unavailable      | yes               |
 * | 429  | RESOURCE_EXHAUSTED (+ RetryInfo.retryDelay)       | resource_exhausted       | yes, with backoff |
 * | 500  | INTERNAL                                          | service_error            | yes               |
 * | 503  | UNAVAILABLE                                       | service_error            | yes, with backoff |
 * | 504  | DEADLINE_EXCEEDED                                 | generation_timeout       | yes               |
 * | 200  | promptFeedback.blockReason (any)                  | content_policy_violation | no                |
 * | 200  | finishReason SAFETY, IMAGE_SAFETY, PROHIBITED_CONTENT, IMAGE_PROHIBITED_CONTENT, BLOCKLIST, SPII, RECITATION, IMAGE_RECITATION | content_policy_violation | no |
 * | 200  | no image, any other finishReason (STOP with words only, NO_IMAGE, IMAGE_OTHER, OTHER, MAX_TOKENS) | generation_failed_no_content | no |
 *
 * An error answer is not billed by Google: mayHaveCharged is false. A 200 without an
 * image was (input tokens at least): mayHaveCharged is true.
 */
import { ProviderError } from "../contract.js";
import { parseRetryAfter, retryAfterValueMs } from "../http-faults.js";
import {
  credentialsRefused,
  invalidParameters,
  modelNotOffered,
  rateLimited,
  referenceImageRejected,
  unexpectedStatus,
  upstreamFailed,
} from "../upstream-faults.js";

export interface GeminiErrorBody {
  status?: string;
  reasons: string[];
  message?: string;
  /** RetryInfo.retryDelay ("37s"), in ms. */
  retryDelayMs?: number;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null;

export function parseGeminiError(body: Buffer | string): GeminiErrorBody {
  const out: GeminiErrorBody = { reasons: [] };
  try {
    const json: unknown = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
    const e = isObject(json) ? json.error : undefined;
    if (!isObject(e)) return out;
    if (typeof e.status === "string") out.status = e.status;
    if (typeof e.message === "string") out.message = e.message;
    for (const d of Array.isArray(e.details) ? e.details : []) {
      if (!isObject(d)) continue;
      if (typeof d.reason === "string") out.reasons.push(d.reason);
      if (typeof d.retryDelay === "string") {
        const m = /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay);
        if (m) out.retryDelayMs = retryAfterValueMs(m[1]);
      }
    }
  } catch {
    // Not JSON: the status code alone decides.
  }
  return out;
}

const POLICY_FINISH = new Set([
  "SAFETY",
  "IMAGE_SAFETY",
  "PROHIBITED_CONTENT",
  "IMAGE_PROHIBITED_CONTENT",
  "BLOCKLIST",
  "SPII",
  "RECITATION",
  "IMAGE_RECITATION",
]);

export const contentBlocked = (): ProviderError =>
  new ProviderError(
    "content_policy_violation",
    "The request was blocked by the image service's content moderation.",
    false,
    true,
  );

/** The failure of one call that answered 200 without an image. */
export function noImageError(finishReason: string): ProviderError {
  if (POLICY_FINISH.has(finishReason)) return contentBlocked();
  return new ProviderError(
    "generation_failed_no_content",
    "The image service finished without producing an image.",
    false,
    true,
  );
}

export function mapGeminiError(
  status: number,
  body: Buffer | string,
  headers: Record<string, string | string[] | undefined> = {},
  nowMs: number = Date.now(),
): ProviderError {
  const e = parseGeminiError(body);
  const retryAfter = e.retryDelayMs ?? parseRetryAfter(headers, nowMs);
  if (status === 400) {
    if (e.reasons.includes("API_KEY_INVALID") || e.reasons.includes("API_KEY_EXPIRED"))
      return credentialsRefused();
    if (e.status === "FAILED_PRECONDITION")
      return new ProviderError(
        "service_unavailable",
        "The image service is not available to this channel's account.",
        true,
      );
    if (/input image|image.*(invalid|unsupported|decode)/i.test(e.message ?? ""))
      return referenceImageRejected();
    return invalidParameters();
  }
  if (status === 401 || status === 403) return credentialsRefused();
  if (status === 404) return modelNotOffered();
  if (status === 429) return rateLimited(retryAfter);
  if (status === 503)
    return new ProviderError(
      "service_error",
      "The image service is temporarily unavailable.",
      true,
      false,
      retryAfter,
    );
  if (status === 504)
    return new ProviderError(
      "generation_timeout",
      "The image service did not finish in time.",
      true,
      false,
      retryAfter,
    );
  if (status >= 500) return upstreamFailed(retryAfter);
  return unexpectedStatus(status);
}
