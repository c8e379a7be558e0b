/**
 * Typed lifecycle events. Metrics, logs and tests subscribe here instead of reaching
 * into the runner, so a test can await "this task finished" rather than sleep.
 *
 * A task's life: submitted (the API process) ─► claimed (a runner, once per claim) ─►
 * upstream_started / upstream_finished (once per upstream call; failover makes several)
 * ─► finished (once, with the charge) │ lease_lost (another runner owns it now).
 * A callback's: one webhook:attempt per POST, saying what happens next.
 * Money is in micro-credits (core/money.ts), times in ms unless named otherwise.
 */
import { EventEmitter } from "node:events";
import type { TaskStatus } from "../core/types.js";

export interface DarkroomEvents {
  "task:submitted": [
    {
      taskId: string;
      model: string;
      accountId: string;
      keyId: string;
      /** The HTTP request that created it. */
      requestId: string;
      reservedMicros: number;
    },
  ];
  "task:claimed": [
    {
      taskId: string;
      model: string;
      attempt: number;
      /** From submission to this claim (a task given back or re-claimed counts it again). */
      waitedMs: number;
    },
  ];
  "task:upstream_started": [
    { taskId: string; model: string; channel: string; provider: string; attempt: number },
  ];
  "task:upstream_finished": [
    {
      taskId: string;
      model: string;
      channel: string;
      provider: string;
      attempt: number;
      durationMs: number;
      /** ok: the provider returned; error: it failed (code); aborted: cancel, lease lost, shutdown. */
      outcome: "ok" | "error" | "aborted";
      code?: string;
      /** Images stored for the task so far. */
      images: number;
    },
  ];
  "task:finished": [
    {
      taskId: string;
      status: TaskStatus;
      model: string;
      seconds: number;
      code?: string;
      accountId: string;
      attempt: number;
      /** The channel of the last upstream call; null when none was made. */
      channel: string | null;
      /** What the account was charged (0 for a failed task: refunded). */
      chargeMicros: number;
    },
  ];
  "task:lease_lost": [{ taskId: string }];
  "webhook:attempt": [
    {
      deliveryId: string;
      taskId: string;
      attempt: number;
      /** delivered; retrying (another attempt is scheduled); failed (no more attempts). */
      outcome: "delivered" | "retrying" | "failed";
      statusCode: number | null;
      errorKind: string | null;
      latencyMs: number;
    },
  ];
}

export class DarkroomEventBus extends EventEmitter<DarkroomEvents> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }
}

/** Listeners for some of the events, by name. */
export type EventHandlers = {
  [E in keyof DarkroomEvents]?: (...args: DarkroomEvents[E]) => void;
};

/** Adds `handlers` to `events`; returns what removes them again. */
export function subscribe(events: DarkroomEventBus, handlers: EventHandlers): () => void {
  // Each entry pairs an event with its own listener type (EventHandlers checked that);
  // TypeScript cannot follow the pairing through Object.entries, so the untyped view.
  const emitter: EventEmitter = events;
  const entries = Object.entries(handlers) as Array<[string, (...args: unknown[]) => void]>;
  for (const [name, fn] of entries) emitter.on(name, fn);
  return () => {
    for (const [name, fn] of entries) emitter.off(name, fn);
  };
}

/** Every event's name, for forwarding them all (the worker thread to the API thread). */
export const DARKROOM_EVENT_NAMES = [
  "task:submitted",
  "task:claimed",
  "task:upstream_started",
  "task:upstream_finished",
  "task:finished",
  "task:lease_lost",
  "webhook:attempt",
] as const satisfies ReadonlyArray<keyof DarkroomEvents>;

// An event added to DarkroomEvents and not to the list above fails to compile here.
type UnlistedEvent = Exclude<keyof DarkroomEvents, (typeof DARKROOM_EVENT_NAMES)[number]>;
const everyEventListed: [UnlistedEvent] extends [never] ? true : UnlistedEvent = true;
void everyEventListed;
