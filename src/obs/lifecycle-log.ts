/**
 * The operator's log of what happened to tasks and callbacks: one structured line per
 * lifecycle event (events.ts), at info, so the default level tells the story of every
 * task — submitted (with the request id), claimed, each upstream call, finished with
 * its outcome, charge and duration — and of every callback attempt.
 *
 * Every line has `event` (e.g. `task.finished`) to filter on and the task's id. Nothing
 * here can carry a secret: events hold ids, models, channels, codes and numbers, never
 * a key, a URL or a message from upstream. A lease lost is logged where it is noticed
 * (runner/pipeline.ts), not here.
 */
import type { Logger } from "pino";
import { microsToCredits } from "../core/money.js";
import { subscribe, type DarkroomEventBus, type EventHandlers } from "./events.js";

/** Subscribes `log` to `events`; returns the unsubscriber. */
export function logLifecycle(events: DarkroomEventBus, log: Logger): () => void {
  const on: EventHandlers = {
    "task:submitted": (e) =>
      log.info(
        {
          event: "task.submitted",
          taskId: e.taskId,
          reqId: e.requestId,
          model: e.model,
          accountId: e.accountId,
          keyId: e.keyId,
          reservedCredits: microsToCredits(e.reservedMicros),
        },
        "task submitted",
      ),
    "task:claimed": (e) =>
      log.info(
        {
          event: "task.claimed",
          taskId: e.taskId,
          model: e.model,
          attempt: e.attempt,
          waitedMs: e.waitedMs,
        },
        "task claimed",
      ),
    "task:upstream_started": (e) =>
      log.debug(
        {
          event: "task.upstream_started",
          taskId: e.taskId,
          model: e.model,
          channel: e.channel,
          provider: e.provider,
          attempt: e.attempt,
        },
        "upstream call started",
      ),
    "task:upstream_finished": (e) =>
      log.info(
        {
          event: "task.upstream_finished",
          taskId: e.taskId,
          model: e.model,
          channel: e.channel,
          provider: e.provider,
          attempt: e.attempt,
          outcome: e.outcome,
          ...(e.code ? { code: e.code } : {}),
          images: e.images,
          durationMs: e.durationMs,
        },
        "upstream call finished",
      ),
    "task:finished": (e) =>
      log.info(
        {
          event: "task.finished",
          taskId: e.taskId,
          model: e.model,
          accountId: e.accountId,
          status: e.status,
          ...(e.code ? { code: e.code } : {}),
          attempt: e.attempt,
          channel: e.channel,
          chargedCredits: microsToCredits(e.chargeMicros),
          durationMs: Math.round(e.seconds * 1000),
        },
        "task finished",
      ),
    "webhook:attempt": (e) => {
      const fields = {
        event: "webhook.attempt",
        taskId: e.taskId,
        deliveryId: e.deliveryId,
        attempt: e.attempt,
        outcome: e.outcome,
        statusCode: e.statusCode,
        ...(e.errorKind ? { errorKind: e.errorKind } : {}),
        latencyMs: Math.round(e.latencyMs),
      };
      if (e.outcome === "failed") log.warn(fields, "webhook delivery failed");
      else log.info(fields, e.outcome === "delivered" ? "webhook delivered" : "webhook will retry");
    },
  };
  return subscribe(events, on);
}
