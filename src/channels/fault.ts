/**
 * Whose fault a failed call was. Only upstream/system faults count against a channel's
 * health; the caller's faults (moderation, bad parameters, bad references) would fail
 * the same way on any channel and say nothing about this one.
 */
import type { FailureCode } from "../core/types.js";

function assertNever(x: never): never {
  throw new Error(`unhandled failure code ${String(x)}`);
}

export function countsAgainstChannel(code: FailureCode): boolean {
  switch (code) {
    case "service_error":
    case "generation_timeout":
    case "resource_exhausted":
    case "quota_exceeded":
    case "service_unavailable":
    case "unknown_error":
      return true;
    case "content_policy_violation":
    case "invalid_parameters":
    case "image_processing_error":
    case "image_dimension_mismatch":
    case "request_cancelled":
    case "generation_failed_no_content": // as often output moderation as an upstream fault
      return false;
    default:
      return assertNever(code);
  }
}
