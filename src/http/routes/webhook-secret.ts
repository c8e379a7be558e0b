/**
 * GET /v1/webhook-secret: the caller's account's callback signing secret. Any key of
 * the account may read it: a receiver needs it to verify callbacks, and every key of
 * the account already sees the same tasks the callbacks carry. Rotation is an admin
 * act (POST /admin/v1/accounts/{id}/webhook-secret/rotate).
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import type { AppDeps } from "../app.js";

export type WebhookSecretRouteDeps = Pick<AppDeps, "admin">;

export function webhookSecretRoutes(app: FastifyInstance, deps: WebhookSecretRouteDeps): void {
  app.get("/webhook-secret", async (req, reply) => {
    const secret = await deps.admin.getWebhookSecret(req.principal.accountId);
    if (secret === null) throw new ApiError("not_found", "No such account.");
    reply.header("cache-control", "no-store");
    return { object: "webhook_secret", secret };
  });
}
