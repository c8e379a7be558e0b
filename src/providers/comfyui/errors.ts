/**
 * ComfyUI answers and events → ProviderError. Pure.
 *
 * Billing stance for a self-hosted GPU: nobody bills per call, but once a prompt is
 * queued the operator's GPU spends time on it and a result may exist. So every failure
 * after the prompt was accepted carries `mayHaveCharged: true` — the runner does not
 * silently repeat it on another channel — and failures before that carry `false`.
 * Messages never include the upstream's host, body or node tracebacks.
 */
import { retryAfterValueMs } from "../http-faults.js";
import { ProviderError } from "../contract.js";

/** Stage of the call, for the messages and the mayHaveCharged flag. */
export type Stage = "upload" | "submit" | "run" | "download";

/** A transport failure (connection refused, reset, DNS, TLS) before any answer. */
export function networkError(stage: Stage): ProviderError {
  const queued = stage === "run" || stage === "download";
  return new ProviderError(
    "service_unavailable",
    queued
      ? "The ComfyUI upstream stopped answering while generating."
      : "The ComfyUI upstream could not be reached.",
    true,
    queued,
  );
}

/** A non-2xx HTTP answer from POST /prompt or POST /upload/image. */
export function httpError(stage: Stage, status: number, retryAfterMs?: number): ProviderError {
  const queued = stage === "run" || stage === "download";
  if (status === 400 && stage === "submit")
    return new ProviderError(
      "invalid_parameters",
      "The upstream rejected the workflow built for this request as invalid.",
      false,
    );
  if (status === 400 || status === 413 || status === 415)
    return new ProviderError(
      "image_processing_error",
      "The upstream rejected a reference image.",
      false,
      queued,
    );
  if (status === 429)
    return new ProviderError(
      "resource_exhausted",
      "The ComfyUI upstream is busy; try again later.",
      true,
      queued,
      retryAfterMs,
    );
  if (status === 401 || status === 403)
    return new ProviderError(
      "service_error",
      "The ComfyUI upstream refused Darkroom's credentials.",
      true,
      queued,
    );
  if (status === 503 || status === 502 || status === 504)
    return new ProviderError(
      "service_unavailable",
      "The ComfyUI upstream is unavailable.",
      true,
      queued,
      retryAfterMs,
    );
  return new ProviderError(
    "service_error",
    `The ComfyUI upstream answered with an error (HTTP ${status}).`,
    true,
    queued,
  );
}

/** A 2xx answer that is not the JSON ComfyUI sends (a proxy's page, a truncated body). */
export function malformedAnswer(stage: Stage): ProviderError {
  return new ProviderError(
    "service_error",
    "The ComfyUI upstream sent an answer Darkroom could not read.",
    true,
    stage === "run" || stage === "download",
  );
}

/** The `execution_error` message data (or the same entry from /history status.messages). */
export interface ExecutionErrorData {
  node_type?: string;
  exception_type?: string;
  exception_message?: string;
}

export function executionError(data: ExecutionErrorData): ProviderError {
  const text = `${data.exception_type ?? ""} ${data.exception_message ?? ""}`.toLowerCase();
  if (text.includes("outofmemory") || text.includes("out of memory"))
    return new ProviderError(
      "resource_exhausted",
      "The ComfyUI upstream ran out of GPU memory for this request.",
      true,
      true,
    );
  if ((data.node_type ?? "").startsWith("LoadImage"))
    return new ProviderError(
      "image_processing_error",
      "The ComfyUI workflow could not read a reference image.",
      false,
      true,
    );
  return new ProviderError(
    "service_error",
    "The ComfyUI workflow failed while generating.",
    false,
    true,
  );
}

/** Interrupted on the upstream by someone else (our own cancel never reaches this). */
export function interruptedError(): ProviderError {
  return new ProviderError(
    "service_error",
    "The generation was interrupted on the ComfyUI upstream.",
    false,
    true,
  );
}

export function timeoutError(): ProviderError {
  return new ProviderError(
    "generation_timeout",
    "The ComfyUI upstream did not finish within the channel's time limit.",
    true,
    true,
  );
}

/** One image of a finished prompt could not be downloaded. */
export function downloadFailure(reason: "status" | "too_large" | "network" | "not_image"): {
  code: "service_error" | "image_processing_error";
  message: string;
} {
  switch (reason) {
    case "too_large":
      return { code: "image_processing_error", message: "A generated image was too large." };
    case "not_image":
      return { code: "image_processing_error", message: "A generated image could not be read." };
    default:
      return {
        code: "service_error",
        message: "A generated image could not be downloaded from the upstream.",
      };
  }
}

/** Retry-After as milliseconds (seconds or an HTTP date, capped at an hour), or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()) {
  return retryAfterValueMs(Array.isArray(value) ? value[0] : value, now);
}
