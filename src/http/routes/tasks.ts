/** GET /v1/tasks/{id}: one indexed lookup, scoped to the caller's account. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import { looksLikeTaskId } from "../../core/ids.js";
import type { AppDeps } from "../app.js";
import { taskSchema, taskView } from "../task-view.js";

function checkId(taskId: string): void {
  if (!looksLikeTaskId(taskId)) {
    throw new ApiError("invalid_task_id", "Task ids start with task-unified-.", {
      param: "task_id",
    });
  }
}

export function taskRoutes(app: FastifyInstance, deps: AppDeps): void {
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
        throw new ApiError("task_not_cancellable", `Task ${taskId} has already finished.`);
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
