/**
 * Waiting for a task and saving what it made, shared by `generate` and `tasks wait`:
 * poll GET /v1/tasks/{id} until the task is terminal, show progress, then download the
 * images (completed) or report the task's error with exit code 3 (failed, cancelled).
 * Ctrl-C leaves the task running on the server and says how to pick it up again.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { apiCall, type ApiTarget } from "./api-client.js";
import { downloadResults } from "./download.js";
import { CliError, EXIT } from "./exit-codes.js";
import { createReporter, type TaskView } from "./progress.js";

export interface WaitOptions {
  outDir: string;
  json: boolean;
  intervalMs: number;
  /** Give up (exit 4) after this many seconds; the task goes on. */
  timeoutS?: number;
}

const isTerminal = (t: TaskView) => t.status === "completed" || t.status === "failed";

export const taskPath = (id: string) => `/v1/tasks/${encodeURIComponent(id)}`;

export async function waitAndSave(t: ApiTarget, first: TaskView, o: WaitOptions): Promise<void> {
  const id = first.id;
  const reporter = createReporter();
  const onInterrupt = () => {
    reporter.stop();
    process.stderr.write(
      `\ninterrupted: task ${id} goes on on the server; resume with \`darkroom tasks wait ${id}\`\n`,
    );
    process.exit(EXIT.interrupted);
  };
  process.once("SIGINT", onInterrupt);
  try {
    const deadline = o.timeoutS === undefined ? Infinity : Date.now() + o.timeoutS * 1000;
    let task = first;
    reporter.update(task);
    while (!isTerminal(task)) {
      if (Date.now() >= deadline)
        throw new CliError(
          `task ${id} is still ${task.status} after ${o.timeoutS} s; resume with \`darkroom tasks wait ${id}\``,
          EXIT.unavailable,
        );
      await sleep(Math.min(o.intervalMs, Math.max(0, deadline - Date.now())));
      task = await apiCall<TaskView>(t, "GET", taskPath(id)).catch((e: unknown) => {
        throw resumable(e, id);
      });
      reporter.update(task);
    }
    reporter.stop();
    if (task.status === "failed") {
      if (o.json) process.stdout.write(JSON.stringify({ task, files: [] }, null, 2) + "\n");
      throw taskFailure(task);
    }
    const files = await downloadResults(id, task.results ?? [], o.outDir);
    process.stdout.write(
      (o.json ? JSON.stringify({ task, files }, null, 2) : files.join("\n")) + "\n",
    );
  } finally {
    reporter.stop();
    process.removeListener("SIGINT", onInterrupt);
  }
}

/** A poll that outlasted its retries: the task is still there to wait for later. */
function resumable(e: unknown, id: string): unknown {
  if (!(e instanceof CliError) || e.exitCode !== EXIT.unavailable) return e;
  return new CliError(
    `${e.message}; task ${id} goes on, resume with \`darkroom tasks wait ${id}\``,
    e.exitCode,
  );
}

function taskFailure(task: TaskView): CliError {
  const e = task.error ?? {};
  const what = e.code === "request_cancelled" ? "was cancelled" : "failed";
  return new CliError(
    `task ${task.id} ${what}: ${e.message ?? "no reason given"} (${e.code ?? "unknown_error"})`,
    EXIT.taskFailed,
  );
}
