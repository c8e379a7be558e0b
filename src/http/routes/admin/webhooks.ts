/**
 * /admin/v1/webhooks: every callback delivery with each of its attempts, one
 * delivery, and re-queueing a failed one. /admin/v1/accounts/{id}/webhook-secret: read
 * and rotate the account's signing secret (the owner needs it to verify, so it is
 * shown to the admin; it is never logged).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../../core/errors.js";
import type { DeliveryRecord } from "../../../store/webhooks.js";
import { newWebhookSecret } from "../../../webhooks/sign.js";
import type { AppDeps } from "../../app.js";
import { decodeRowCursor, encodeRowCursor } from "../../../core/paging.js";
import { audit } from "../../plugins/admin-audit.js";
import { listAnswer, listStart, pageQuery, parseBody } from "./parse.js";

export const listQuery = pageQuery.extend({
  account_id: z.string().optional(),
  task_id: z.string().optional(),
  status: z.enum(["pending", "delivered", "failed"]).optional(),
});

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export const deliveryView = (d: DeliveryRecord) => ({
  id: d.id,
  object: "webhook_delivery",
  task_id: d.taskId,
  account_id: d.accountId,
  url: d.url,
  status: d.status,
  attempts: d.attempts,
  next_attempt_at: d.status === "pending" ? seconds(d.nextAttemptAt) : null,
  last_status_code: d.lastStatusCode,
  last_error: d.lastError,
  delivered_at: seconds(d.deliveredAt),
  created: seconds(d.createdAt),
  attempt_list: d.attemptList.map((a) => ({
    attempt: a.attempt,
    status_code: a.statusCode,
    latency_ms: a.latencyMs,
    error_kind: a.errorKind,
    error_message: a.errorMessage,
    created: seconds(a.createdAt),
    created_ms: a.createdAt,
  })),
});

export type AdminWebhookRouteDeps = Pick<AppDeps, "webhooks" | "onWebhookQueued" | "admin">;

export function adminWebhookRoutes(app: FastifyInstance, deps: AdminWebhookRouteDeps): void {
  app.get("/webhooks", async (req) => {
    const q = parseBody(listQuery, req.query);
    const start = listStart(q, (c) => decodeRowCursor("deliveries", c));
    const page = await deps.webhooks.listDeliveries(
      {
        ...(q.account_id ? { accountId: q.account_id } : {}),
        ...(q.task_id ? { taskId: q.task_id } : {}),
        ...(q.status ? { status: q.status } : {}),
      },
      { pageSize: q.page_size, start },
    );
    return listAnswer(q, start, page, deliveryView, (p) => encodeRowCursor("deliveries", p));
  });

  app.get<{ Params: { id: string } }>("/webhooks/:id", async (req) => {
    const d = await deps.webhooks.getDelivery(req.params.id);
    if (!d) throw new ApiError("not_found", "No such webhook delivery.");
    return deliveryView(d);
  });

  app.post<{ Params: { id: string } }>("/webhooks/:id/retry", async (req) => {
    const r = await deps.webhooks.requeueDelivery(req.params.id, Date.now());
    if (r === "not_found") throw new ApiError("not_found", "No such webhook delivery.");
    if (r === "not_failed")
      throw new ApiError("conflict", "Only a failed delivery can be retried.");
    deps.onWebhookQueued?.();
    const d = (await deps.webhooks.getDelivery(req.params.id))!;
    audit(req, { taskId: d.taskId, accountId: d.accountId });
    return deliveryView(d);
  });

  app.get<{ Params: { id: string } }>("/accounts/:id/webhook-secret", async (req) => {
    const secret = await deps.admin.getWebhookSecret(req.params.id);
    // Reading a secret changes nothing, but who read it belongs in the audit log.
    audit(req, { read: "webhook_secret" });
    if (secret === null) throw new ApiError("not_found", "No such account.");
    return { object: "webhook_secret", account_id: req.params.id, secret };
  });

  app.post<{ Params: { id: string } }>("/accounts/:id/webhook-secret/rotate", async (req) => {
    const secret = newWebhookSecret();
    if (!(await deps.admin.rotateWebhookSecret(req.params.id, secret)))
      throw new ApiError("not_found", "No such account.");
    return { object: "webhook_secret", account_id: req.params.id, secret };
  });
}
