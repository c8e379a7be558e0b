/**
 * An EvoLink-compatible gateway's answers → our ProviderError. Pure. Only codes are
 * read; our messages never carry upstream text, hosts or keys.
 *
 * Submission (api.md's error table, seen from the caller's side):
 * | HTTP | upstream code                         | ours                   | another channel? |
 * |------|---------------------------------------|------------------------|------------------|
 * | 400  | invalid_request (param image_urls)    | image_processing_error | no               |
 * | 400  | invalid_request, 413 request_too_large| invalid_parameters     | no               |
 * | 401  | unauthorized                          | service_unavailable    | yes              |
 * | 402  | insufficient_quota (the operator's upstream balance) | service_unavailable | yes |
 * | 403/404 | model_access_denied, model_not_found | service_unavailable  | yes              |
 * | 409  | idempotency_key_reused                | service_error          | yes              |
 * | 429  | rate_limit_exceeded (+ Retry-After)   | resource_exhausted     | yes, with backoff |
 * | 503  | service_unavailable (+ Retry-After)   | service_unavailable    | yes              |
 * | 5xx  | internal_error                        | service_error          | yes              |
 *
 * A failed upstream task: its business `error.code` is ours 1:1 (same contract), with
 * our policy (core/failure.ts) deciding whether another channel may be tried; an
 * unknown code is unknown_error. One exception: `request_cancelled` that we did not ask
 * for (someone cancelled it upstream) is a service_error, not our caller's cancel.
 * The upstream refunds its failed tasks, so mayHaveCharged is false.
 */
import { isFailureCode, policyFor } from "../../core/failure.js";
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

function errorFields(body: Buffer): { code?: string; param?: string } {
  try {
    const e = (JSON.parse(body.toString("utf8")) as { error?: Record<string, unknown> }).error;
    return {
      code: typeof e?.code === "string" ? e.code : undefined,
      param: typeof e?.param === "string" ? e.param : undefined,
    };
  } catch {
    return {};
  }
}

export function mapSubmitError(
  status: number,
  body: Buffer,
  headers: Record<string, string | string[] | undefined> = {},
  nowMs: number = Date.now(),
): ProviderError {
  const { code, param } = errorFields(body);
  const retryAfter = parseRetryAfter(headers, nowMs);
  const unavailable = (message: string) =>
    new ProviderError("service_unavailable", message, true, false, retryAfter);
  switch (status) {
    case 400:
    case 413:
      if (param === "image_urls" || param?.startsWith("image_urls"))
        return referenceImageRejected();
      return invalidParameters();
    case 401:
      return credentialsRefused(retryAfter);
    case 402:
      return unavailable("This channel's upstream account has no credits left.");
    case 403:
    case 404:
      return modelNotOffered(retryAfter);
    case 409:
      return new ProviderError(
        "service_error",
        code === "idempotency_key_reused"
          ? "The image service already holds a different request for this task."
          : "The image service refused the request as a conflict.",
        true,
        true,
      );
    case 429:
      return rateLimited(retryAfter);
    case 503:
      return unavailable("The image service is temporarily unavailable.");
    default:
      return status >= 500 ? upstreamFailed(retryAfter) : unexpectedStatus(status, retryAfter);
  }
}

export function mapTaskFailure(code: string | null): ProviderError {
  if (code === "request_cancelled")
    return new ProviderError("service_error", "The image service cancelled the task.", true);
  const ours = code !== null && isFailureCode(code) ? code : "unknown_error";
  const policy = policyFor(ours);
  return new ProviderError(ours, policy.defaultMessage, policy.retryable);
}
