/**
 * /admin/v1/tasks: every account's tasks, newest first, filtered and paged by keyset
 * cursor (`limit` and `next_cursor`; no page numbers and no total, which would count
 * tasks); one task with its timeline and callback attempts; and an operator's cancel,
 * the public cancel's store path for any account's task.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../../core/errors.js";
import { decodeRowCursor, encodeRowCursor } from "../../../core/paging.js";
import type { AppDeps } from "../../app.js";
import { audit } from "../../plugins/admin-audit.js";
import { parseBody } from "./parse.js";
import { adminTaskDetail, adminTaskSummary } from "./task-views.js";

const CURSOR = "admin_tasks";
const blankIsAbsent = (v: unknown) => (v === "" ? undefined : v);
const filterValue = z.preprocess(blankIsAbsent, z.string().min(1).max(200).optional());

export const listQuery = z.object({
  status: z.preprocess(
    blankIsAbsent,
    z
      .enum(["pending", "processing", "completed", "failed"], {
        errorMap: () => ({ message: "must be one of pending, processing, completed, failed" }),
      })
      .optional(),
  ),
  model: filterValue,
  account_id: filterValue,
  channel_id: filterValue,
  limit: z.preprocess(
    blankIsAbsent,
    z.coerce
      .number({ invalid_type_error: "must be a whole number from 1 to 100" })
      .int("must be a whole number from 1 to 100")
      .min(1, "must be a whole number from 1 to 100")
      .max(100, "must be a whole number from 1 to 100")
      .default(50),
  ),
  cursor: filterValue,
});

export type AdminTaskRouteDeps = Pick<
  AppDeps,
  "admin" | "store" | "webhooks" | "signLink" | "onCancelRequested"
>;

export function adminTaskRoutes(app: FastifyInstance, deps: AdminTaskRouteDeps): void {
  app.get("/tasks", async (req) => {
    const q = parseBody(listQuery, req.query);
    let after = null;
    if (q.cursor !== undefined) {
      after = decodeRowCursor(CURSOR, q.cursor);
      if (!after)
        throw new ApiError(
          "invalid_request",
          "cursor is not one this listing gave out: pass a next_cursor from an earlier answer, unchanged.",
          { param: "cursor" },
        );
    }
    const page = await deps.admin.listAllTasks(
      {
        status: q.status ?? null,
        model: q.model ?? null,
        accountId: q.account_id ?? null,
        channelId: q.channel_id ?? null,
      },
      q.limit,
      after,
    );
    return {
      object: "list",
      data: page.data.map((t) => adminTaskSummary(t, deps.signLink)),
      has_more: page.next !== null,
      next_cursor: page.next ? encodeRowCursor(CURSOR, page.next) : null,
    };
  });

  app.get<{ Params: { id: string } }>("/tasks/:id", async (req) => {
    const found = await deps.admin.taskWithTrail(req.params.id);
    if (!found) throw new ApiError("not_found", `No task ${req.params.id} was found.`);
    // A task has at most one callback delivery; a page of a few reads it whatever happens.
    const deliveries = await deps.webhooks.listDeliveries(
      { taskId: found.task.id },
      { pageSize: 10, start: { page: 1 } },
    );
    return adminTaskDetail(found.task, found.trail, deliveries.data, deps.signLink);
  });

  app.post<{ Params: { id: string } }>("/tasks/:id/cancel", async (req) => {
    const taskId = req.params.id;
    const before = await deps.admin.findTask(taskId);
    if (!before) throw new ApiError("not_found", `No task ${taskId} was found.`);
    // The public cancel's path, in the task's own account: one outcome wins, as there.
    const result = await deps.store.cancelTask(before.accountId, taskId, Date.now());
    if (result === "requested") await deps.onCancelRequested(taskId);
    audit(req, { taskId, accountId: before.accountId, result });
    const found = (await deps.admin.taskWithTrail(taskId))!;
    if (result === "not_cancellable" || found.task.status === "completed") {
      throw new ApiError(
        "task_not_cancellable",
        found.task.status === "processing"
          ? `Task ${taskId} can no longer be cancelled: its upstream cannot be stopped.`
          : `Task ${taskId} has already finished.`,
      );
    }
    return adminTaskSummary(found.task, deps.signLink);
  });
}
