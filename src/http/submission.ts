/**
 * What POST /v1/images/generations decides around the store, shared by the route
 * (routes/generations.ts) and its fast path (fast-paths/submit.ts), so the two can
 * never disagree: validation and pricing before the write, and what each of the
 * store's verdicts answers after it.
 */
import type { ChannelRouter } from "../channels/router.js";
import { ApiError } from "../core/errors.js";
import { waitingEstimate, type DurationEstimator } from "../core/estimate.js";
import { newTaskId } from "../core/ids.js";
import type { ModelCatalogue } from "../core/models.js";
import { reserveMicros } from "../core/money.js";
import { validateGenerationRequest, type ValidateOptions } from "../core/validate.js";
import type { KeyPrincipal, SubmitInput, SubmitResult } from "../store/store.js";

export interface SubmissionDeps {
  catalogue: ModelCatalogue;
  validateOptions?: ValidateOptions;
  channels: Pick<ChannelRouter, "availability" | "queueOutlook">;
  estimator: Pick<DurationEstimator, "estimate">;
  /**
   * The most tasks of one model that may wait as pending (DARKROOM_QUEUE_MAX_DEPTH);
   * null = no limit. Checked by the store, in the submission's own transaction.
   */
  queueMaxDepth: number | null;
  /**
   * Checks `image_urls` that link to this Darkroom's own uploads (the file API): an
   * error naming the entry when one is not a live file of `accountId`. Absent = none.
   */
  checkImageUrls?: (
    accountId: string,
    urls: readonly string[],
    nowMs: number,
  ) => Promise<ApiError | null>;
}

export type PreparedSubmission =
  | { ok: false; error: ApiError }
  /**
   * `refusal`: why no new task may be created (model not allowed for the key, no
   * upstream), when one applies. The input is then replay-only: an idempotent retry of
   * a submission that went through still gets its task back.
   */
  | {
      ok: true;
      input: SubmitInput;
      refusal: ApiError | null;
      /** Retry-After for a `queue_full` refusal: when a queued task is likely to start. */
      retryAfterSeconds: number;
    };

/** Validates and prices a body for `principal`; writes nothing. */
export function prepareSubmission(
  body: unknown,
  principal: KeyPrincipal,
  deps: SubmissionDeps,
  idempotency: SubmitInput["idempotency"],
  nowMs: number,
): PreparedSubmission {
  const v = validateGenerationRequest(body, deps.catalogue, deps.validateOptions);
  if (!v.ok) return v;
  const { request, spec } = v;
  let refusal: ApiError | null = null;
  if (principal.allowedModels && !principal.allowedModels.includes(request.model)) {
    refusal = new ApiError(
      "model_access_denied",
      `This API key may not use the model ${request.model}.`,
      { param: "model" },
    );
  } else if (deps.channels.availability(request.model) === "unavailable") {
    // Only a model with no enabled channel: open or full channels make a task wait.
    refusal = new ApiError(
      "service_unavailable",
      `No upstream is available for ${request.model} right now.`,
    );
  }
  const outlook = deps.channels.queueOutlook(request.model);
  const wait = waitingEstimate(deps.estimator.estimate(request.model), outlook);
  return {
    ok: true,
    refusal,
    // A full queue frees a place when a channel reopens, or when a slot frees up.
    retryAfterSeconds: Math.max(
      1,
      Math.ceil(outlook.reopensInMs / 1000) ||
        Math.ceil(wait.roundSeconds / Math.max(1, wait.slots)),
    ),
    input: {
      taskId: newTaskId(),
      principal,
      request,
      reserveMicros: reserveMicros(spec.priceMicros, request.n, principal.multiplierPpm),
      priceMicros: spec.priceMicros,
      estimatedSeconds: wait.estimatedSeconds,
      queue: { maxQueued: deps.queueMaxDepth, slots: wait.slots, roundSeconds: wait.roundSeconds },
      nowMs,
      replayOnly: refusal !== null,
      idempotency,
    },
  };
}

/**
 * The error a store verdict that created or replayed nothing answers with;
 * `retryAfterSeconds` from the prepared submission (for a full queue).
 */
export function refusalFor(
  result: Exclude<SubmitResult, { kind: "created" | "replayed" }>,
  refusal: ApiError | null,
  retryAfterSeconds: number,
): ApiError {
  switch (result.kind) {
    case "idempotency_conflict":
      return new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request body.",
      );
    case "insufficient_balance":
      return new ApiError("insufficient_quota", "The account's balance cannot cover this request.");
    case "key_limit_exceeded":
      return new ApiError(
        "insufficient_quota",
        "This API key's credit limit cannot cover this request.",
      );
    case "not_created":
      return refusal ?? new ApiError("internal_error");
    case "queue_full":
      return new ApiError(
        "service_unavailable",
        "Too many tasks are already waiting for this model's upstream; retry later.",
        { headers: { "retry-after": String(retryAfterSeconds) } },
      );
    case "too_many_active_tasks":
      return new ApiError("rate_limit_exceeded", "This API key has too many tasks in progress.", {
        headers: { "retry-after": "5" },
      });
  }
}
