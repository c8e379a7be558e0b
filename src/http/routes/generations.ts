/** POST /v1/images/generations: validate, price, reserve + insert (one transaction), answer 200. */
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import { taskSchema, taskView } from "../../core/public-task.js";
import type { AppDeps } from "../app.js";
import { canonicalJson } from "../canonical-json.js";
import { prepareSubmission, refusalFor, type SubmissionDeps } from "../submission.js";

const IDEMPOTENCY_KEY_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export type GenerationRouteDeps = Pick<AppDeps, "store" | "onSubmitted" | "signLink"> &
  SubmissionDeps;

export function generationRoutes(app: FastifyInstance, deps: GenerationRouteDeps): void {
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

      const prepared = prepareSubmission(
        req.body,
        req.principal,
        deps,
        idempotencyKey
          ? {
              key: idempotencyKey,
              requestHash: createHash("sha256").update(canonicalJson(req.body)).digest("hex"),
            }
          : null,
        Date.now(),
      );
      if (!prepared.ok) throw prepared.error;
      const { input, refusal, retryAfterSeconds } = prepared;
      // A refusal that does not depend on the body's validity: an idempotent retry of a
      // submission that went through still gets its task back (checked by the store).
      if (refusal && !idempotencyKey) throw refusal;
      if (!refusal && deps.checkImageUrls && input.request.imageUrls.length > 0) {
        const bad = await deps.checkImageUrls(
          req.principal.accountId,
          input.request.imageUrls,
          Date.now(),
        );
        if (bad) throw bad;
      }

      const result = await deps.store.submitTask(input);
      switch (result.kind) {
        case "created":
          deps.onSubmitted(result.task, req.id);
          return taskView(result.task, deps.signLink);
        case "replayed":
          reply.header("idempotency-replayed", "true");
          return taskView(result.task, deps.signLink);
        default:
          throw refusalFor(result, refusal, retryAfterSeconds);
      }
    },
  );
}
