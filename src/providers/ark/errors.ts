/**
 * Ark / ModelArk failures → our FailureCode, exactly the table in upstreams.md §1.
 * Pure: no I/O. Messages are ours, fixed per class: never the upstream's text (which
 * carries "Request ID: ..."), its host, or the key.
 *
 * Whether another channel may be tried:
 * - an HTTP error answer means the upstream refused the request and billed nothing, so
 *   the mapping table's "retry?" column applies as is;
 * - a timeout or a broken connection after the request reached the upstream may have
 *   produced (and billed) images, so it is never retried and says mayHaveCharged.
 */
import type { FailureCode } from "../../core/types.js";
import { ProviderError } from "../contract.js";
import { errorCodes, NEVER_REACHED_CODES, retryAfterValueMs } from "../http-faults.js";

export interface ArkFailureClass {
  code: FailureCode;
  retryable: boolean;
  message: string;
}

const MESSAGES = {
  content:
    "The upstream blocked the prompt, a reference image or a result under its content policy.",
  params: "The upstream rejected the request's parameters.",
  image: "The upstream could not read a reference image.",
  auth: "The upstream channel is not available (its credentials or account were refused).",
  model: "The upstream channel is not available (its model is not enabled).",
  busy: "The upstream is rate limited or overloaded; try again later.",
  server: "The upstream image service failed.",
} as const;

const isContentPolicy = (c: string) =>
  c === "InputTextSensitiveContentDetected" ||
  c.startsWith("InputImageSensitiveContentDetected") ||
  c.startsWith("OutputImageSensitiveContentDetected") ||
  c.startsWith("OutputTextSensitiveContentDetected") ||
  c.startsWith("SensitiveContentDetected") ||
  c.endsWith("RiskDetection");

const isRateLimit = (c: string) =>
  c.startsWith("RateLimitExceeded") ||
  c.endsWith("RateLimitExceeded") ||
  c === "QuotaExceeded" ||
  c === "ServerOverloaded" ||
  c === "InflightBatchsizeExceeded" ||
  c === "SetLimitExceeded";

const isAuth = (c: string) =>
  c === "AuthenticationError" ||
  c === "AccessDenied" ||
  c === "AccountOverdueError" ||
  c.startsWith("OperationDenied");

const isModelMissing = (c: string) =>
  c.startsWith("InvalidEndpointOrModel") || c === "ModelNotOpen";

/**
 * Classifies an upstream error by HTTP status (undefined for an error inside a 200
 * SSE stream or a per-image `error` item) and upstream code. Codes are checked before
 * statuses because they are the more specific signal; an unknown 400 is treated as a
 * parameter problem, anything else unknown as a service error another channel may fix.
 */
export function classifyArkError(
  status: number | undefined,
  code: string | undefined,
): ArkFailureClass {
  const c = code ?? "";
  if (isContentPolicy(c))
    return { code: "content_policy_violation", retryable: false, message: MESSAGES.content };
  if (c.startsWith("InvalidImageURL"))
    return { code: "image_processing_error", retryable: false, message: MESSAGES.image };
  if (c.startsWith("InvalidParameter") || c.startsWith("MissingParameter"))
    return { code: "invalid_parameters", retryable: false, message: MESSAGES.params };
  if (isAuth(c) || status === 401 || status === 403)
    return { code: "service_unavailable", retryable: true, message: MESSAGES.auth };
  if (isModelMissing(c) || status === 404)
    return { code: "service_unavailable", retryable: true, message: MESSAGES.model };
  if (isRateLimit(c) || status === 429)
    return { code: "resource_exhausted", retryable: true, message: MESSAGES.busy };
  if (status === 400)
    return { code: "invalid_parameters", retryable: false, message: MESSAGES.params };
  return { code: "service_error", retryable: true, message: MESSAGES.server };
}

/** The ProviderError for an HTTP error answer (nothing generated, nothing billed). */
export function arkHttpError(
  status: number,
  code: string | undefined,
  retryAfter: string | undefined,
  now = Date.now(),
): ProviderError {
  const k = classifyArkError(status, code);
  const wait = k.retryable ? retryAfterValueMs(retryAfter, now) : undefined;
  return new ProviderError(k.code, k.message, k.retryable, false, wait);
}

/**
 * A transport failure (no usable HTTP answer). `timedOut` is our own deadline firing.
 * Before the upstream got the request: retryable, nothing billed. After: the upstream
 * may be generating (and billing) images, so the call is not repeated elsewhere.
 */
export function arkTransportError(err: unknown, timedOut: boolean): ProviderError {
  const neverReached = !timedOut && errorCodes(err).some((c) => NEVER_REACHED_CODES.has(c));
  if (neverReached)
    return new ProviderError("service_error", "The upstream could not be reached.", true, false);
  if (timedOut)
    return new ProviderError(
      "generation_timeout",
      "The upstream did not finish within the channel's time limit.",
      false,
      true,
    );
  return new ProviderError(
    "service_error",
    "The connection to the upstream broke before the generation finished.",
    false,
    true,
  );
}

/** A 200 answer we cannot read (bad JSON or SSE, too large). Internal to the provider. */
export class ArkProtocolError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ArkProtocolError";
  }
}

/** The upstream answered 200 with something we cannot read. It may have billed. */
export function arkProtocolError(): ProviderError {
  return new ProviderError(
    "service_error",
    "The upstream sent a response that could not be read.",
    false,
    true,
  );
}
