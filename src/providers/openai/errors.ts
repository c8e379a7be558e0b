/**
 * An OpenAI-style error answer → our ProviderError. Pure. The upstream's body
 * (`{"error": {"message", "type", "param", "code"}}`) is read for its code only: our
 * messages never carry upstream text, hosts or keys.
 *
 * | HTTP | upstream code / type                                   | ours                      | another channel? |
 * |------|--------------------------------------------------------|---------------------------|------------------|
 * | 400  | content_policy_violation, moderation_blocked, *safety* | content_policy_violation  | no               |
 * | 400  | invalid_image*, image_* (bad reference image)          | image_processing_error    | no               |
 * | 400  | anything else (413 too)                                | invalid_parameters        | no               |
 * | 401/403 | invalid_api_key, organization, region …             | service_unavailable       | yes              |
 * | 404  | model_not_found                                        | service_unavailable       | yes              |
 * | 429  | insufficient_quota / billing_hard_limit_reached (the operator's money) | service_unavailable | yes |
 * | 429  | rate_limit_exceeded, others (+ Retry-After)            | resource_exhausted        | yes, with backoff |
 * | 5xx  | server_error, overloaded                               | service_error             | yes              |
 *
 * An error answer means the upstream did not bill: mayHaveCharged is false.
 */
import { ProviderError } from "../contract.js";
import { parseRetryAfter } from "../http-faults.js";
import {
  credentialsRefused,
  invalidParameters,
  modelNotOffered,
  rateLimited,
  referenceImageRejected,
  unexpectedStatus,
  upstreamFailed,
} from "../upstream-faults.js";

export interface UpstreamErrorBody {
  code?: string;
  type?: string;
  param?: string;
}

export function parseErrorBody(body: Buffer | string): UpstreamErrorBody {
  try {
    const json: unknown = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
    const e = (json as { error?: unknown } | null)?.error;
    if (typeof e !== "object" || e === null) return {};
    const pick = (k: string) => {
      const v = (e as Record<string, unknown>)[k];
      return typeof v === "string" ? v : undefined;
    };
    return { code: pick("code"), type: pick("type"), param: pick("param") };
  } catch {
    return {};
  }
}

const MODERATION_CODES = new Set(["content_policy_violation", "moderation_blocked"]);
const QUOTA_CODES = new Set(["insufficient_quota", "billing_hard_limit_reached"]);

export function mapOpenAIError(
  status: number,
  body: Buffer | string,
  headers: Record<string, string | string[] | undefined> = {},
  nowMs: number = Date.now(),
): ProviderError {
  const e = parseErrorBody(body);
  const code = (e.code ?? "").toLowerCase();
  const type = (e.type ?? "").toLowerCase();
  const retryAfter = parseRetryAfter(headers, nowMs);

  if (status === 400 || status === 413 || status === 422) {
    if (MODERATION_CODES.has(code) || MODERATION_CODES.has(type) || /safety/.test(code))
      return new ProviderError(
        "content_policy_violation",
        "The request was blocked by the image service's content moderation.",
        false,
      );
    if (/^invalid_image|^image_/.test(code) || e.param === "image" || e.param === "image[]")
      return referenceImageRejected();
    if (QUOTA_CODES.has(code)) return quotaError();
    return invalidParameters();
  }
  if (status === 401 || status === 403) return credentialsRefused();
  if (status === 404) return modelNotOffered();
  if (status === 429) {
    if (QUOTA_CODES.has(code) || QUOTA_CODES.has(type)) return quotaError();
    return rateLimited(retryAfter);
  }
  if (status === 503)
    return new ProviderError(
      "service_error",
      "The image service is temporarily unavailable.",
      true,
      false,
      retryAfter,
    );
  if (status >= 500) return upstreamFailed(retryAfter);
  return unexpectedStatus(status);
}

/**
 * The operator's upstream account is out of money: not the caller's quota (that is our
 * own 402 at submission), so another channel may well serve the task.
 */
function quotaError(): ProviderError {
  return new ProviderError(
    "service_unavailable",
    "This channel's upstream account has no quota left.",
    true,
  );
}
