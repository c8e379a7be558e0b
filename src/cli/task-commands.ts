/** `darkroom tasks get|list|cancel|wait`: the public task API, with the caller's API key. */
import type { Command } from "commander";
import { apiCall, resolveApiTarget } from "./api-client.js";
import { addWaitOptions, positiveNumber, type CliGlobals } from "./generate-command.js";
import type { TaskView } from "./progress.js";
import { formatUnixTime, output, renderRecord, renderTable } from "./table.js";
import { taskPath, waitAndSave } from "./wait-task.js";

interface TaskUsage {
  credits_reserved?: number;
  credits_used?: number | null;
}

interface TaskList {
  data: TaskView[];
  total: number;
  page: number | null;
  page_size: number;
  next_cursor: string | null;
}

const LIST_COLUMNS = ["id", "status", "progress", "model", "created", "credits_used", "error"];

function context(cmd: Command) {
  const g = cmd.optsWithGlobals<CliGlobals>();
  return { t: resolveApiTarget({ url: g.url, key: g.key }), json: Boolean(g.json) };
}

function usage(task: TaskView): TaskUsage {
  return (task.usage ?? {}) as TaskUsage;
}

function describeTask(task: TaskView): string {
  const results = task.results ?? [];
  return renderRecord([
    ["id", task.id],
    ["status", task.status],
    ["progress", `${task.progress ?? 0}%`],
    ["model", task.model],
    ["created (UTC)", formatUnixTime(task.created)],
    [
      "estimated",
      task.task_info?.estimated_time === undefined
        ? undefined
        : `${task.task_info.estimated_time}s`,
    ],
    ["can cancel", task.task_info?.can_cancel],
    ["reserved", usage(task).credits_reserved],
    ["credits used", usage(task).credits_used],
    [
      "error",
      task.error
        ? `${task.error.message ?? ""} (${task.error.code ?? "unknown_error"})`
        : undefined,
    ],
    ...results.map((url, i): [string, unknown] => [`result ${i}`, url]),
  ]);
}

export function registerTaskCommands(program: Command): void {
  const tasks = program
    .command("tasks")
    .description(
      "look at, list, cancel and wait for your tasks (API key: --key or DARKROOM_API_KEY)",
    );

  tasks
    .command("get")
    .description("show one task: status, progress, times (UTC), charge, error, result links")
    .argument("<id>", "task id (task-unified-…)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { t, json } = context(cmd);
      const task = await apiCall<TaskView>(t, "GET", taskPath(id));
      output(task, json, () => describeTask(task));
    });

  tasks
    .command("list")
    .description("list your tasks, newest first (times in UTC)")
    .option("--limit <n>", "tasks per page, 1..100", positiveNumber("--limit", true), 20)
    .option("--status <status>", "only pending, processing, completed or failed")
    .option("--model <id>", "only this model")
    .option("--page <n>", "page number (the first pages only; use --cursor to read deeper)")
    .option("--cursor <cursor>", "read on after a previous page (its next_cursor)")
    .action(
      async (
        o: { limit: number; status?: string; model?: string; page?: string; cursor?: string },
        cmd: Command,
      ) => {
        const { t, json } = context(cmd);
        const q = new URLSearchParams({ page_size: String(o.limit) });
        if (o.status) q.set("status", o.status);
        if (o.model) q.set("model", o.model);
        if (o.cursor) q.set("cursor", o.cursor);
        else if (o.page) q.set("page", o.page);
        const r = await apiCall<TaskList>(t, "GET", `/v1/tasks?${q}`);
        output(r, json, () => {
          const rows = r.data.map((task) => ({
            id: task.id,
            status: task.status,
            progress: `${task.progress ?? 0}%`,
            model: task.model,
            created: formatUnixTime(task.created),
            credits_used: usage(task).credits_used,
            error: task.error?.code,
          }));
          const more =
            r.next_cursor && r.data.length === r.page_size
              ? `; next page: --cursor ${r.next_cursor}`
              : "";
          return `${renderTable(rows, LIST_COLUMNS)}\n${r.total} task(s), times in UTC${more}`;
        });
      },
    );

  tasks
    .command("cancel")
    .description(
      "cancel a task that has not finished (refused once it is past the point of no return)",
    )
    .argument("<id>", "task id")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { t, json } = context(cmd);
      const task = await apiCall<TaskView>(t, "POST", `${taskPath(id)}/cancel`);
      output(
        task,
        json,
        () => `task ${task.id}: ${task.status}${task.error?.code ? ` (${task.error.code})` : ""}`,
      );
    });

  addWaitOptions(
    tasks
      .command("wait")
      .description("wait for a task with progress, then download its images and print their paths")
      .argument("<id>", "task id"),
  ).action(
    async (id: string, o: { out: string; timeout?: number; interval: number }, cmd: Command) => {
      const { t, json } = context(cmd);
      const task = await apiCall<TaskView>(t, "GET", taskPath(id));
      await waitAndSave(t, task, {
        outDir: o.out,
        json,
        intervalMs: o.interval * 1000,
        ...(o.timeout === undefined ? {} : { timeoutS: o.timeout }),
      });
    },
  );
}
