/**
 * How each failed-task business code is treated. The switch is exhaustive: a new
 * FailureCode does not compile until someone decides how it is billed and whether
 * another channel may be tried.
 */
import type { FailureCode } from "./types.js";

export interface FailurePolicy {
  /** Failed and cancelled tasks release their whole hold (api.md, billing rule). */
  refund: boolean;
  /** Whether another channel may be tried before the task fails. */
  retryable: boolean;
  defaultMessage: string;
}

function assertNever(x: never): never {
  throw new Error(`unhandled failure code ${String(x)}`);
}

export function policyFor(code: FailureCode): FailurePolicy {
  switch (code) {
    case "content_policy_violation":
      return {
        refund: true,
        retryable: false,
        defaultMessage: "The request or its result was blocked by content moderation.",
      };
    case "invalid_parameters":
      return {
        refund: true,
        retryable: false,
        defaultMessage: "The upstream rejected the request's parameters.",
      };
    case "image_processing_error":
      return {
        refund: true,
        retryable: false,
        defaultMessage: "A reference image could not be processed.",
      };
    case "image_dimension_mismatch":
      return {
        refund: true,
        retryable: false,
        defaultMessage: "A reference image has unsupported dimensions.",
      };
    case "request_cancelled":
      return { refund: true, retryable: false, defaultMessage: "The task was cancelled." };
    case "generation_failed_no_content":
      return {
        refund: true,
        retryable: false,
        defaultMessage: "The generation finished without producing an image.",
      };
    case "service_error":
      return { refund: true, retryable: true, defaultMessage: "The image service failed." };
    case "generation_timeout":
      return { refund: true, retryable: true, defaultMessage: "The generation took too long." };
    case "resource_exhausted":
      return {
        refund: true,
        retryable: true,
        defaultMessage: "The image service is overloaded; try again later.",
      };
    case "quota_exceeded":
      return { refund: true, retryable: false, defaultMessage: "A quota was exceeded." };
    case "service_unavailable":
      return {
        refund: true,
        retryable: true,
        defaultMessage: "No image service is available right now.",
      };
    case "unknown_error":
      return {
        refund: true,
        retryable: false,
        defaultMessage: "The generation failed unexpectedly.",
      };
    default:
      return assertNever(code);
  }
}

export const FAILURE_CODES: readonly FailureCode[] = [
  "content_policy_violation",
  "invalid_parameters",
  "image_processing_error",
  "image_dimension_mismatch",
  "request_cancelled",
  "generation_failed_no_content",
  "service_error",
  "generation_timeout",
  "resource_exhausted",
  "quota_exceeded",
  "service_unavailable",
  "unknown_error",
];

export const FAILURE_POLICY = Object.fromEntries(
  FAILURE_CODES.map((c) => [c, policyFor(c)]),
) as Record<FailureCode, FailurePolicy>;

const CODES = new Set<string>(FAILURE_CODES);
export function isFailureCode(x: string): x is FailureCode {
  return CODES.has(x);
}
