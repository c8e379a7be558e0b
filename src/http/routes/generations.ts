/** POST /v1/images/generations: validate, price, reserve + insert (one transaction), answer 200. */
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import { newTaskId } from "../../core/ids.js";
import { reserveMicros } from "../../core/money.js";
import { validateGenerationRequest } from "../../core/validate.js";
import type { AppDeps } from "../app.js";
import { canonicalJson } from "../canonical-json.js";
import { taskSchema, taskView } from "../task-view.js";

const IDEMPOTENCY_KEY_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function generationRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post(
    "/images/generations",
    { schema: { response: { 200: taskSchema } } },
    async (req, reply) => {
      const idemHeader = req.headers["idempotency-key"];
      let idempotencyKey: string | null = null;
      if (idemHeader !== undefined) {
        if (typeof idemHeader !== "string" || !IDEMPOTENCY_KEY_RE.test(idemHeader)) {
          throw new ApiError(
            "invalid_request",
            "Idempotency-Key must be 1 to 128 characters of letters, digits and . _ : -",
            { param: "Idempotency-Key" },
          );
        }
        idempotencyKey = idemHeader;
      }

      const v = validateGenerationRequest(req.body, deps.catalogue, deps.validateOptions);
      if (!v.ok) throw v.error;
      const { request, spec } = v;
      const p = req.principal;
      // A refusal that does not depend on the body's validity: an idempotent retry of a
      // submission that went through still gets its task back (checked by the store).
      let refusal: ApiError | null = null;
      if (p.allowedModels && !p.allowedModels.includes(request.model)) {
        refusal = new ApiError(
          "model_access_denied",
          `This API key may not use the model ${request.model}.`,
          { param: "model" },
        );
      } else if (deps.channels.availability(request.model) === "unavailable") {
        refusal = new ApiError(
          "service_unavailable",
          `No upstream is available for ${request.model} right now.`,
        );
      }
      if (refusal && !idempotencyKey) throw refusal;

      const result = await deps.store.submitTask({
        taskId: newTaskId(),
        principal: p,
        request,
        reserveMicros: reserveMicros(spec.priceMicros, request.n, p.multiplierPpm),
        priceMicros: spec.priceMicros,
        estimatedSeconds: deps.estimator.estimate(request.model),
        nowMs: Date.now(),
        replayOnly: refusal !== null,
        idempotency: idempotencyKey
          ? {
              key: idempotencyKey,
              requestHash: createHash("sha256").update(canonicalJson(req.body)).digest("hex"),
            }
          : null,
      });

      switch (result.kind) {
        case "created":
          deps.onSubmitted(result.task.id, result.task.model);
          return taskView(result.task, deps.signLink);
        case "replayed":
          reply.header("idempotency-replayed", "true");
          return taskView(result.task, deps.signLink);
        case "idempotency_conflict":
          throw new ApiError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body.",
          );
        case "insufficient_balance":
          throw new ApiError(
            "insufficient_quota",
            "The account's balance cannot cover this request.",
          );
        case "key_limit_exceeded":
          throw new ApiError(
            "insufficient_quota",
            "This API key's credit limit cannot cover this request.",
          );
        case "not_created":
          throw refusal ?? new ApiError("internal_error");
        case "too_many_active_tasks":
          throw new ApiError(
            "rate_limit_exceeded",
            "This API key has too many tasks in progress.",
            {
              headers: { "retry-after": "5" },
            },
          );
      }
    },
  );
}
