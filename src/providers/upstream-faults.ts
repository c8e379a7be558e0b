/**
 * The ProviderErrors that the HTTP "image service" providers (openai, evolink) raise
 * alike. Each provider's errors.ts keeps its own table of which upstream answer means
 * which fault; this file only says what each fault is (code, message, whether another
 * channel may be tried, whether the upstream may have billed). Pure.
 *
 * An HTTP error answer means the upstream did not bill: mayHaveCharged is false unless
 * a factory says otherwise. `retryAfterMs` is the upstream's Retry-After, when the
 * provider passes it on for routing to back the channel off.
 */
import { ProviderError } from "./contract.js";

export const invalidParameters = (): ProviderError =>
  new ProviderError(
    "invalid_parameters",
    "The image service rejected the request's parameters.",
    false,
  );

export const referenceImageRejected = (): ProviderError =>
  new ProviderError(
    "image_processing_error",
    "The image service could not use a reference image.",
    false,
  );

export const credentialsRefused = (retryAfterMs?: number): ProviderError =>
  new ProviderError(
    "service_unavailable",
    "The image service refused this channel's credentials.",
    true,
    false,
    retryAfterMs,
  );

export const modelNotOffered = (retryAfterMs?: number): ProviderError =>
  new ProviderError(
    "service_unavailable",
    "The image service does not offer this channel's model.",
    true,
    false,
    retryAfterMs,
  );

export const rateLimited = (retryAfterMs?: number): ProviderError =>
  new ProviderError(
    "resource_exhausted",
    "The image service is rate limiting this channel.",
    true,
    false,
    retryAfterMs,
  );

export const upstreamFailed = (retryAfterMs?: number): ProviderError =>
  new ProviderError("service_error", "The image service failed.", true, false, retryAfterMs);

export const unexpectedStatus = (status: number, retryAfterMs?: number): ProviderError =>
  new ProviderError(
    "service_error",
    `The image service answered with an unexpected status ${status}.`,
    true,
    false,
    retryAfterMs,
  );

/** A 200 answer that is not what the API sends; the upstream may have billed it. */
export const unreadableAnswer = (): ProviderError =>
  new ProviderError(
    "service_error",
    "The image service sent an answer that could not be read.",
    true,
    true,
  );

/** The upstream finished and billed, but produced no image at all. */
export const noImageProduced = (): ProviderError =>
  new ProviderError(
    "generation_failed_no_content",
    "The image service finished without producing an image.",
    false,
    true,
  );

/** The per-image failure for each image the upstream withheld. */
export const imageNotProduced = (index: number) => ({
  index,
  code: "generation_failed_no_content" as const,
  message: "The image service produced fewer images than asked.",
});
