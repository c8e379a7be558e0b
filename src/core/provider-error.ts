/**
 * The classified failure of a whole task, thrown by a provider (or by the reference
 * image loader in media) and settled by the runner: refund, another channel, or not.
 */
import type { FailureCode } from "./types.js";

/**
 * Thrown by a provider when the whole task fails. `retryable` says whether another
 * channel may be tried; `mayHaveCharged` says whether the upstream may already have
 * billed (such a call is never silently repeated).
 */
export class ProviderError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly retryable: boolean,
    readonly mayHaveCharged = false,
    /** The upstream's Retry-After (429/503), so routing can back the channel off. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ProviderError";
  }
}
