/**
 * How waiting looks: on a terminal, a progress bar with the status and an ETA
 * (cli-progress, on stderr); otherwise one plain line per change of status or progress,
 * so a log or a CI job shows what happened without control characters. stdout stays
 * for results (image paths, JSON).
 */
import cliProgress from "cli-progress";

export interface TaskView {
  id: string;
  status: string;
  progress?: number;
  created?: number;
  task_info?: { can_cancel?: boolean; estimated_time?: number };
  results?: string[];
  error?: { code?: string; message?: string };
  [field: string]: unknown;
}

export interface ProgressReporter {
  update(task: TaskView): void;
  /** Leaves the terminal clean for the next line (the bar stays, as the record of the run). */
  stop(): void;
}

/**
 * Seconds left, or null when there is nothing to go on. From the progress rate once the
 * task has made some, before that from the server's `estimated_time`.
 */
export function etaSeconds(task: TaskView, nowMs: number): number | null {
  if (task.status === "completed" || task.status === "failed") return 0;
  if (task.created === undefined) return null;
  const elapsed = Math.max(0, nowMs / 1000 - task.created);
  const p = task.progress ?? 0;
  if (p >= 5 && p < 100) return Math.round((elapsed * (100 - p)) / p);
  const estimate = task.task_info?.estimated_time;
  if (estimate === undefined) return null;
  return Math.max(0, Math.round(estimate - elapsed));
}

/** "45s", "2m05s", "1h02m"; "?" when unknown. */
export function formatSeconds(s: number | null): string {
  if (s === null) return "?";
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function createReporter(
  stream: NodeJS.WriteStream = process.stderr,
  now: () => number = Date.now,
): ProgressReporter {
  return stream.isTTY ? barReporter(stream, now) : lineReporter(stream, now);
}

function lineReporter(stream: NodeJS.WritableStream, now: () => number): ProgressReporter {
  let last = "";
  return {
    update(task) {
      const state = `${task.status} ${task.progress ?? 0}%`;
      if (state === last) return;
      last = state;
      const eta = etaSeconds(task, now());
      const tail = task.status === "pending" || task.status === "processing";
      stream.write(`${task.id} ${state}${tail ? ` eta ${formatSeconds(eta)}` : ""}\n`);
    },
    stop() {},
  };
}

function barReporter(stream: NodeJS.WriteStream, now: () => number): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "{bar} {percentage}% | {status} | ETA {remaining}",
      hideCursor: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(task) {
      const payload = { status: task.status, remaining: formatSeconds(etaSeconds(task, now())) };
      if (!started) {
        bar.start(100, task.progress ?? 0, payload);
        started = true;
      } else bar.update(task.progress ?? 0, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
