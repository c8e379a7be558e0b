/**
 * What happens to one claimed task, start to finish:
 *
 *   claimed ─► checks ─► channel slot ─► (reference images) ─► mark channel ─► provider.generate ─► finish (1 tx)
 *                │           │                                   │                  │
 *                │           │ none usable ─► failed service_unavailable             ├─ retryable ProviderError, nothing
 *                │           │ all open/full ─► released (attempt not counted)       │  delivered, not charged upstream:
 *                │           │                                   │                  │  next channel (failover) ──┐
 *                │           │                                   │                  │◄──────────────────────────┘
 *                │           │                   cancel got in first ─► failed request_cancelled
 *                │           │                                                      ├─ other ProviderError ─► failed + refund
 *                │           │                                                      │  (images already stored: completed, charged for those)
 *                │           │                                                      ├─ cancelled ─► failed request_cancelled + refund
 *                │           │                                                      ├─ lease lost ─► write nothing
 *                │           │                                                      └─ shutdown deadline ─► handed back if the
 *                │           │                                                         channel is safe to repeat, else write
 *                │           │                                                         nothing (the lease lapses: crash rule)
 *                └─ repeated attempt whose last channel may have charged ─► failed service_error + refund
 *
 * Draining (the runner stops): until the upstream call starts — before the channel
 * slot, while waiting for one, while fetching reference images, between failover
 * attempts — the task is handed back at once (lease released, attempt not counted).
 *
 * The charge is computed once, at finish, from the images stored: failing over never
 * charges twice. When every channel failed retryably the task fails with the last
 * error's code (e.g. resource_exhausted after 429s).
 *
 * Progress is written at most every PROGRESS_MIN_INTERVAL_MS per task, starting that long
 * after the claim, and only when it grows: a chatty provider does not turn into a write
 * storm, and a task that finishes quickly (its last step is reported just before the
 * finish) writes none at all; the finish says it all.
 */
import type { Logger } from "pino";
import type { ChannelLease, ChannelRouter } from "../channels/router.js";
import type { DurationEstimator } from "../core/estimate.js";
import { chargeMicros } from "../core/money.js";
import type { FailureCode, StoredImage } from "../core/types.js";
import type { ReferenceLoader } from "../media/reference-images.js";
import type { MediaStorage } from "../media/storage.js";
import type { DarkroomEventBus } from "../obs/events.js";
import { guaranteesOf, ProviderError, type ReferenceImage } from "../providers/contract.js";
import type { ClaimedTask, Store, TaskOutcome, TrailEntry } from "../store/store.js";
import { imageIndexOf } from "../core/image-keys.js";
import { linkSignals } from "../core/linked-signal.js";
import { callProvider } from "./attempt.js";
import { TaskAbort, type TaskExit, type TaskPipeline } from "./runner.js";

/** A task claimed this many times has crashed its runners repeatedly: stop retrying it. */
export const MAX_ATTEMPTS = 5;

export interface PipelineDeps {
  store: Store;
  router: ChannelRouter;
  media: MediaStorage;
  estimator: DurationEstimator;
  events: DarkroomEventBus;
  log: Logger;
  now?: () => number;
  /** Fetches and checks `image_urls` (media/reference-images.ts); absent = no references. */
  loadReferences?: ReferenceLoader;
}

export function createPipeline(deps: PipelineDeps): TaskPipeline {
  const now = deps.now ?? Date.now;

  return async function runTask(
    claimed: ClaimedTask,
    signal: AbortSignal,
    finishing: () => void = () => {},
    draining: AbortSignal = NEVER,
  ): Promise<TaskExit> {
    // What waits before an upstream call (a channel slot, reference images) stops on either.
    const wait = linkSignals(signal, draining);
    try {
      return await runClaimed(claimed, signal, finishing, draining, wait.signal);
    } finally {
      wait.dispose();
    }
  };

  async function runClaimed(
    claimed: ClaimedTask,
    signal: AbortSignal,
    finishing: () => void,
    draining: AbortSignal,
    waitSignal: AbortSignal,
  ): Promise<TaskExit> {
    const { task, leaseToken } = claimed;
    const log = deps.log.child({ taskId: task.id });
    deps.events.emit("task:claimed", claimedEvent(task, now()));
    // What this claim did, for the operator's timeline: written by the finish or the
    // hand-back that ends the claim, in its transaction (no write of its own).
    const trail: TrailEntry[] = [{ kind: "claimed", atMs: now() }];

    const finish = async (outcome: TaskOutcome): Promise<TaskExit> => {
      if (outcome.kind === "failed" && outcome.code === "request_cancelled")
        trail.push({ kind: "cancel_requested", atMs: now() });
      const written = deps.store.finishTask(task.id, leaseToken, outcome, now(), trail);
      finishing();
      const ok = await written;
      if (!ok) {
        log.warn("lease lost before the task could finish; another runner owns it");
        deps.events.emit("task:lease_lost", { taskId: task.id });
        return "lease_lost";
      }
      const seconds = (now() - task.createdMs) / 1000;
      if (outcome.kind === "completed") deps.estimator.record(task.model, seconds);
      deps.events.emit("task:finished", {
        taskId: task.id,
        status: outcome.kind,
        model: task.model,
        seconds,
        accountId: task.accountId,
        attempt: task.attempts,
        channel: lastChannel,
        chargeMicros: outcome.kind === "completed" ? outcome.chargeMicros : 0,
        ...(outcome.kind === "failed" ? { code: outcome.code } : {}),
      });
      return "finished";
    };
    // No upstream call of this attempt is running: give the task back, attempt uncounted.
    const handBack = async (): Promise<TaskExit> => {
      trail.push({ kind: "handed_back", atMs: now() });
      return (await deps.store.releaseTask(task.id, leaseToken, now(), trail))
        ? "handed_back"
        : "lease_lost";
    };
    const fail = (code: FailureCode, message: string) => finish({ kind: "failed", code, message });
    /** The channel of the last upstream call, for the finish event. */
    let lastChannel: string | null = null;

    if (task.cancelRequested) return fail("request_cancelled", "The task was cancelled.");
    if (task.attempts > MAX_ATTEMPTS)
      return fail("unknown_error", "The task was interrupted too many times and was abandoned.");
    if (task.attempts > 1 && task.channelId !== null) {
      // The previous runner died after choosing an upstream: unless that upstream is
      // free to repeat, it may already have charged for the call.
      if (!deps.router.guaranteesOf(task.channelId)?.safeToRepeat) {
        return fail(
          "service_error",
          "The task was interrupted while generating and was not repeated, to avoid a double charge.",
        );
      }
    }
    if (draining.aborted) return handBack();

    // The slot is taken before the first await, so the runner's claim budgets stay exact.
    const tried = new Set<string>();
    let lease: ChannelLease | null = await deps.router.acquire(task.model, tried, waitSignal);
    if (!lease) {
      if (signal.aborted) return settleAbort(signal.reason, true);
      // Draining, or every channel is open (or full): give the task back; it keeps its place.
      if (draining.aborted || deps.router.hasUsableChannel(task.model)) return handBack();
      return fail("service_unavailable", "No upstream is available for this model.");
    }

    const images: StoredImage[] = [];
    let lastError: ProviderError | null = null;
    // A call on an upstream that may charge has run and its outcome is not written yet:
    // from here the task is never handed back (a re-run could bill twice).
    let charging = false;
    const progress = {
      value: task.progress,
      // As if written at the claim: the first step is written only if the task is still
      // running a moment later.
      writtenAt: now(),
      write: Promise.resolve() as Promise<unknown>,
    };
    try {
      // Reference images are fetched once, before the first upstream call, for every channel.
      let referenceImages: ReferenceImage[] = [];
      if (deps.loadReferences && task.request.imageUrls.length > 0) {
        try {
          referenceImages = await deps.loadReferences(task.request, waitSignal);
        } catch (err) {
          if (!(err instanceof ProviderError) || waitSignal.aborted) throw err;
          // A bad reference image says nothing about the channel: hand its slot back.
          lease.abandoned();
          lease = null;
          return fail(err.code, err.message);
        }
      }

      while (lease) {
        const current: ChannelLease = lease;
        if (draining.aborted) {
          // Not called yet: nothing to finish, nothing that could have cost anything.
          current.abandoned();
          lease = null;
          return handBack();
        }
        tried.add(current.channel.id);
        lastChannel = current.channel.id;
        const marked = await deps.store.markChannel(
          task.id,
          leaseToken,
          current.channel.id,
          guaranteesOf(current.provider, current.channel.options).canCancel,
          now(),
          current.maxInFlight,
        );
        if (marked === "channel_full") {
          // Other processes hold every slot of this channel: try the next one, or give
          // the task back to be claimed again when a slot frees up.
          current.abandoned();
          lease = await deps.router.acquire(task.model, tried, waitSignal);
          if (!lease) {
            if (signal.aborted) return settleAbort(signal.reason, true);
            // Learn the deployment's load first, so the next claim does not take it back at once.
            await deps.router.syncCluster().catch(() => undefined);
            return handBack();
          }
          continue;
        }
        if (marked !== "ok") {
          current.abandoned();
          lease = null;
          if (marked === "cancel_requested")
            return fail("request_cancelled", "The task was cancelled.");
          deps.events.emit("task:lease_lost", { taskId: task.id });
          return "lease_lost";
        }
        const safeToRepeat = guaranteesOf(current.provider, current.channel.options).safeToRepeat;
        charging = !safeToRepeat;
        const r = await callProvider({
          lease: current,
          task: claimed,
          signal,
          referenceImages,
          images,
          progress,
          store: deps.store,
          media: deps.media,
          now,
          log,
          events: deps.events,
          trail,
        });
        await progress.write;
        lease = null; // `current` is settled below, on every path
        if (r.kind === "aborted") {
          current.abandoned();
          return settleAbort(r.reason, safeToRepeat);
        }
        if (r.kind === "ok") {
          const first = r.outcome.failures[0];
          if (images.length === 0) {
            current.failed(first?.code ?? "generation_failed_no_content");
            return fail(
              first?.code ?? "generation_failed_no_content",
              first?.message ?? "The upstream finished without producing any image.",
            );
          }
          current.succeeded();
          return completeWith(images);
        }
        const err = r.error;
        current.failed(err.code, err.retryAfterMs);
        // Something was delivered or may have been billed upstream: never repeat elsewhere.
        if (images.length > 0) return completeWith(images);
        if (!err.retryable || err.mayHaveCharged) return fail(err.code, err.message);
        lastError = err;
        charging = false; // the upstream said it did not bill
        log.info(
          { channel: current.channel.id, code: err.code },
          "failing over to the next channel",
        );
        lease = await deps.router.acquire(task.model, tried, waitSignal);
      }
      if (signal.aborted) return settleAbort(signal.reason, true);
      // The last call failed without charging; the next channel was not called yet.
      if (draining.aborted) return handBack();
      return fail(
        lastError?.code ?? "service_unavailable",
        lastError?.message ?? "No upstream is available for this model.",
      );
    } catch (err) {
      // Not a provider outcome (callProvider classifies those): reference images, storage
      // or the store failed under us.
      lease?.abandoned();
      await progress.write;
      if (signal.aborted) return settleAbort(signal.reason, !charging);
      if (draining.aborted && !charging) return handBack();
      log.error({ err }, "task pipeline failed unexpectedly");
      return fail("unknown_error", "The generation failed unexpectedly.");
    }

    async function completeWith(stored: StoredImage[]): Promise<TaskExit> {
      stored.sort((a, b) => imageIndexOf(a.key) - imageIndexOf(b.key));
      return finish({
        kind: "completed",
        images: stored,
        chargeMicros: chargeMicros(claimed.priceMicros, stored.length, claimed.multiplierPpm),
      });
    }

    /**
     * `repeatable`: no upstream call was running, or the one running is safe to repeat
     * (the sandbox; an upstream that replays our Idempotency-Key).
     */
    async function settleAbort(reason: unknown, repeatable: boolean): Promise<TaskExit> {
      if (!(reason instanceof TaskAbort) || reason.reason === "lease_lost") return "lease_lost";
      if (reason.reason === "cancelled")
        return fail("request_cancelled", "The task was cancelled.");
      // Shutdown deadline. A call that may have cost money is not handed back: the lease
      // lapses and the next claim applies the crash rule (fail + refund), written once.
      return repeatable ? handBack() : "left_to_lapse";
    }
  }
}

/** The drain signal of a runner that never drains (tests, one-off runs). */
const NEVER = new AbortController().signal;

function claimedEvent(task: ClaimedTask["task"], nowMs: number) {
  return {
    taskId: task.id,
    model: task.model,
    attempt: task.attempts,
    waitedMs: Math.max(0, nowMs - task.createdMs),
  };
}
