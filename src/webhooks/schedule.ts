/**
 * The callback retry schedule (spec/api.md, "Callbacks") and what an attempt's result
 * means for its delivery, as pure functions.
 *
 * First attempt at once; on failure, retried 3 times after 1 s, 2 s and 4 s (4 attempts
 * in all). A 2xx is success; anything else — 3xx included, since redirects are not
 * followed — or no answer within the timeout is a failed attempt. An address refused by
 * the outbound policy is not retried: the same name resolving to the same internal
 * address 7 s later is no more acceptable, and retrying would only probe the network.
 */
import type { AttemptErrorKind, AttemptVerdict } from "../store/webhooks.js";

export const RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000];
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
export const ATTEMPT_TIMEOUT_MS = 10_000;

/** What one POST came to, as the sender reports it. */
export type SendResult =
  | { kind: "response"; status: number }
  | { kind: "timeout" }
  | { kind: "network"; message: string }
  | { kind: "blocked"; message: string }
  | { kind: "invalid"; message: string };

export interface AttemptOutcome {
  statusCode: number | null;
  errorKind: AttemptErrorKind | null;
  errorMessage: string | null;
}

export function describeResult(r: SendResult): AttemptOutcome {
  switch (r.kind) {
    case "response":
      if (r.status >= 200 && r.status < 300)
        return { statusCode: r.status, errorKind: null, errorMessage: null };
      return {
        statusCode: r.status,
        errorKind: "http_status",
        errorMessage:
          r.status >= 300 && r.status < 400
            ? `The receiver answered ${r.status} (redirects are not followed).`
            : `The receiver answered ${r.status}.`,
      };
    case "timeout":
      return {
        statusCode: null,
        errorKind: "timeout",
        errorMessage: `No answer within ${ATTEMPT_TIMEOUT_MS / 1000} s.`,
      };
    case "network":
    case "blocked":
    case "invalid":
      return { statusCode: null, errorKind: r.kind, errorMessage: r.message };
  }
}

/** `scheduleAttempt` is 1 for the first try of the current schedule. */
export function verdictFor(
  outcome: AttemptOutcome,
  scheduleAttempt: number,
  nowMs: number,
): AttemptVerdict {
  if (outcome.errorKind === null) return { status: "delivered" };
  if (outcome.errorKind === "blocked" || outcome.errorKind === "invalid")
    return { status: "failed" };
  const delay = RETRY_DELAYS_MS[scheduleAttempt - 1];
  if (delay === undefined) return { status: "failed" };
  return { status: "pending", nextAttemptMs: nowMs + delay };
}
