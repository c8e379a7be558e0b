/**
 * The account's tasks: GET /v1/tasks/{id} (one indexed lookup, scoped to the caller's
 * account), GET /v1/tasks (newest first, filtered, paged) and POST /v1/tasks/{id}/cancel.
 *
 * Paging GET /v1/tasks: EvoLink's `page`/`page_size` reach the first PAGE_DEPTH tasks
 * (page × page_size ≤ PAGE_DEPTH); every answer carries `next_cursor`, the position of
 * its last task, and `cursor=<next_cursor>` reads the page after it at any depth for
 * the same cost. A cursor answer's `page` is null: a position has no page number.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../core/errors.js";
import { looksLikeTaskId } from "../../core/ids.js";
import { taskSchema, taskView } from "../../core/public-task.js";
import { decodeTaskCursor, encodeTaskCursor } from "../../core/task-cursor.js";
import type { AppDeps } from "../app.js";
import { pageStart } from "../page-start.js";

function checkId(taskId: string): void {
  if (!looksLikeTaskId(taskId)) {
    throw new ApiError("invalid_task_id", "Task ids start with task-unified-.", {
      param: "task_id",
    });
  }
}

// An empty parameter is no filter: the contract writes the route as
// `GET /v1/tasks?status=&model=&page=&page_size=`, and clients send it that way.
const blankIsAbsent = (v: unknown) => (v === "" ? undefined : v);
export const listQuery = z.object({
  status: z.preprocess(
    blankIsAbsent,
    z.enum(["pending", "processing", "completed", "failed"]).optional(),
  ),
  model: z.preprocess(blankIsAbsent, z.string().min(1).max(200).optional()),
  page: z.preprocess(blankIsAbsent, z.coerce.number().int().min(1).max(1_000_000).optional()),
  page_size: z.preprocess(blankIsAbsent, z.coerce.number().int().min(1).max(100).default(20)),
  cursor: z.preprocess(blankIsAbsent, z.string().optional()),
});

/** GET /v1/tasks: one page of the account's tasks. */
export const taskListSchema = {
  type: "object",
  properties: {
    data: { type: "array", items: taskSchema },
    total: { type: "integer" },
    page: { type: ["integer", "null"] },
    page_size: { type: "integer" },
    next_cursor: { type: ["string", "null"] },
  },
  required: ["data", "total", "page", "page_size", "next_cursor"],
} as const;

export type TaskRouteDeps = Pick<AppDeps, "store" | "signLink" | "onCancelRequested">;

export function taskRoutes(app: FastifyInstance, deps: TaskRouteDeps): void {
  app.get(
    "/tasks",
    {
      schema: {
        response: { 200: taskListSchema },
      },
    },
    async (req) => {
      const r = listQuery.safeParse(req.query ?? {});
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const param = issue.path.join(".") || undefined;
        const what =
          param === "page"
            ? "page must be a whole number of at least 1"
            : param === "page_size"
              ? "page_size must be a whole number from 1 to 100"
              : param === "status"
                ? "status must be one of pending, processing, completed, failed"
                : `${param ? `${param}: ` : ""}${issue.message}`;
        throw new ApiError("invalid_request", `${what}.`, param ? { param } : {});
      }
      const q = r.data;
      const start = pageStart(q, decodeTaskCursor, { issuer: "server", rows: "tasks" });
      const { data, total, next } = await deps.store.listTasks(req.principal.accountId, {
        status: q.status ?? null,
        model: q.model ?? null,
        pageSize: q.page_size,
        start,
      });
      return {
        data: data.map((t) => taskView(t, deps.signLink)),
        total,
        page: "page" in start ? start.page : null,
        page_size: q.page_size,
        next_cursor: next ? encodeTaskCursor(next) : null,
      };
    },
  );

  app.post<{ Params: { taskId: string } }>(
    "/tasks/:taskId/cancel",
    { schema: { response: { 200: taskSchema } } },
    async (req) => {
      const { taskId } = req.params;
      checkId(taskId);
      const { accountId } = req.principal;
      const result = await deps.store.cancelTask(accountId, taskId, Date.now());
      if (result === "requested") await deps.onCancelRequested(taskId);
      const task = await deps.store.getTask(accountId, taskId);
      if (!task) throw new ApiError("task_not_found", `No task ${taskId} was found.`);
      // Lost the race to completion (or already terminal): exactly one outcome wins.
      if (result === "not_cancellable" || task.status === "completed") {
        throw new ApiError(
          "task_not_cancellable",
          task.status === "processing"
            ? `Task ${taskId} can no longer be cancelled: its upstream cannot be stopped.`
            : `Task ${taskId} has already finished.`,
        );
      }
      return taskView(task, deps.signLink);
    },
  );

  app.get<{ Params: { taskId: string } }>(
    "/tasks/:taskId",
    { schema: { response: { 200: taskSchema } } },
    async (req) => {
      const { taskId } = req.params;
      checkId(taskId);
      // Another account's task is indistinguishable from a missing one.
      const task = await deps.store.getTask(req.principal.accountId, taskId);
      if (!task) throw new ApiError("task_not_found", `No task ${taskId} was found.`);
      return taskView(task, deps.signLink);
    },
  );
}
