/**
 * Cross-process wake-ups: how a backend tells this process that work was queued
 * somewhere (possibly in another process), so an idle runner or callback dispatcher
 * looks now instead of at its next poll (DARKROOM_POLL_INTERVAL_MS).
 *
 * Optional: SQLite has none (its processes share one machine and the poll interval
 * bounds the delay). A backend that can (PostgreSQL: LISTEN/NOTIFY) returns one from
 * its factory, and the composition root subscribes `runner.wake()` and
 * `dispatcher.wake()` to it; nothing else changes. A wake-up is only a hint: a missed
 * or spurious one costs a poll interval or an empty claim, never correctness, since
 * the claim itself decides what runs.
 */
export type WakeupKind =
  /** A task became claimable: submitted, handed back, or its cancel was asked. */
  | "tasks"
  /** A callback became due: a task finished with a callback_url, or an admin retry. */
  | "callbacks";

export interface WorkWakeups {
  /** Calls `listener` whenever work of `kind` may be waiting; returns the unsubscribe. */
  subscribe(kind: WakeupKind, listener: () => void): () => void;
}
