/**
 * What the API thread and the worker thread of one `darkroom serve` (role `all`) say to
 * each other (server/worker-link.ts, server/worker-thread.ts). Plain data: every message
 * crosses by structured clone.
 */
import type { Env } from "../config/config.js";
import type { WakeupKind } from "../store/wakeups.js";
import type { DarkroomEvents } from "../obs/events.js";
import type { ShutdownSummary } from "./shutdown.js";

/** Handed to the thread at its start: it loads its own config from this environment. */
export interface WorkerThreadData {
  env: Env;
}

export type ToWorker =
  | { type: "wake"; kind: WakeupKind }
  | { type: "cancel"; taskId: string }
  | { type: "stop"; graceMs: number };

/** One lifecycle event, as its name and payload. */
export type ForwardedEvent = {
  [E in keyof DarkroomEvents]: [name: E, payload: DarkroomEvents[E][0]];
}[keyof DarkroomEvents];

export interface WorkerLoad {
  inFlight: number;
  concurrency: number;
  /** The runner is claiming (or there is none to run: callbacks only). */
  running: boolean;
}

export type FromWorker =
  | ({ type: "ready" } & WorkerLoad)
  | ({ type: "status" } & WorkerLoad)
  | { type: "failed"; message: string }
  | { type: "events"; events: ForwardedEvent[] }
  | { type: "cancelled"; taskId: string }
  | { type: "stopped"; summary: ShutdownSummary };
