/**
 * The task state machine.
 *
 *   pending ──claim──► processing ──► completed
 *      │                   │
 *      └──cancel──► failed ◄┘ (provider error, cancel, no image)
 *
 * - pending → processing: a runner claims the task (a lapsed lease re-claims a
 *   processing task; its public status stays processing: it never moves backwards).
 * - pending → failed: cancelled before any runner took it.
 * - processing → completed | failed: the runner finishes it, once.
 * - completed and failed are terminal. A cancelled task is failed + request_cancelled.
 *
 * Progress is 0..99 while not completed, exactly 100 when completed, never decreasing.
 */
import type { TaskStatus } from "./types.js";

export const TERMINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed"];

const ALLOWED: Record<TaskStatus, readonly TaskStatus[]> = {
  pending: ["processing", "failed"],
  processing: ["processing", "completed", "failed"],
  completed: [],
  failed: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return ALLOWED[from].includes(to);
}

export function isTerminal(s: TaskStatus): boolean {
  return s === "completed" || s === "failed";
}

export function nextProgress(current: number, reported: number): number {
  const r = Math.max(0, Math.min(99, Math.floor(reported)));
  return Math.max(current, r);
}
