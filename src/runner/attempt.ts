/**
 * One upstream call for a task on one channel: the provider gets a signal that also
 * fires at the channel's time limit (a backstop: providers enforce `timeoutMs`
 * themselves), each image it hands over is stored at once, and progress is written
 * sparsely. The result is classified for the failover loop in pipeline.ts; the
 * caller settles the channel lease.
 */
import type { Logger } from "pino";
import type { ChannelLease } from "../channels/router.js";
import { imageKey } from "../core/image-keys.js";
import { linkSignals } from "../core/linked-signal.js";
import type { StoredImage } from "../core/types.js";
import type { MediaStorage } from "../media/storage.js";
import type { DarkroomEventBus } from "../obs/events.js";
import {
  guaranteesOf,
  ProviderError,
  type GenerateOutcome,
  type ProducedImage,
  type ReferenceImage,
} from "../providers/contract.js";
import type { ClaimedTask, Store, TrailEntry } from "../store/store.js";

const PROGRESS_MIN_INTERVAL_MS = 250;
/** Grace after `timeoutMs` before the runner aborts a provider that did not stop itself. */
const TIMEOUT_GRACE_MS = 1000;

export interface ProgressState {
  value: number;
  writtenAt: number;
  write: Promise<unknown>;
}

export type AttemptResult =
  | { kind: "ok"; outcome: GenerateOutcome }
  | { kind: "error"; error: ProviderError }
  | { kind: "aborted"; reason: unknown };

export interface AttemptInput {
  lease: ChannelLease;
  task: ClaimedTask;
  /** The task's signal (cancel, lease lost, shutdown). */
  signal: AbortSignal;
  referenceImages: ReferenceImage[];
  /** Images stored so far; this attempt appends to it. */
  images: StoredImage[];
  progress: ProgressState;
  store: Store;
  media: MediaStorage;
  now: () => number;
  log: Logger;
  /** Told when the call starts and how it ended (metrics, logs). */
  events?: DarkroomEventBus;
  /** The claim's trail (pipeline.ts): the call is added to it when it ends. */
  trail?: TrailEntry[];
}

export async function callProvider(a: AttemptInput): Promise<AttemptResult> {
  const call = {
    taskId: a.task.task.id,
    model: a.task.task.model,
    channel: a.lease.channel.id,
    provider: a.lease.channel.provider,
    attempt: a.task.task.attempts,
  };
  a.events?.emit("task:upstream_started", call);
  const started = performance.now();
  const startedMs = a.now();
  const result = await attemptCall(a);
  a.trail?.push({
    kind: "upstream_attempt",
    atMs: startedMs,
    endedMs: a.now(),
    channelId: call.channel,
    outcome: result.kind,
    errorCode:
      result.kind === "error"
        ? result.error.code
        : result.kind === "ok" && a.images.length === 0
          ? (result.outcome.failures[0]?.code ?? "generation_failed_no_content")
          : null,
  });
  a.events?.emit("task:upstream_finished", {
    ...call,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    outcome: result.kind,
    ...(result.kind === "error" ? { code: result.error.code } : {}),
    images: a.images.length,
  });
  return result;
}

async function attemptCall(a: AttemptInput): Promise<AttemptResult> {
  const { lease, task, signal, images, progress, now } = a;
  const taskId = task.task.id;
  const timedOut = new AbortController();
  const timer = setTimeout(
    () => timedOut.abort(new Error("channel time limit")),
    lease.channel.timeoutMs + TIMEOUT_GRACE_MS,
  );
  const linked = linkSignals(signal, timedOut.signal);
  const attemptSignal = linked.signal;
  // Images count only while this attempt is the current one: a late hand-over from a
  // call we gave up on must not add to (or overwrite) another attempt's set.
  let current = true;
  const aborted = rejectOnAbort(attemptSignal);
  try {
    const call = lease.provider.generate(task.task.request, {
      signal: attemptSignal,
      taskId,
      channel: lease.channel,
      referenceImages: a.referenceImages,
      onProgress(percent) {
        const p = Math.max(0, Math.min(99, Math.floor(percent)));
        const t = now();
        if (p <= progress.value || t - progress.writtenAt < PROGRESS_MIN_INTERVAL_MS) return;
        progress.value = p;
        progress.writtenAt = t;
        progress.write = progress.write
          .then(() => a.store.reportProgress(taskId, task.leaseToken, p, t))
          .catch((err: unknown) => a.log.warn({ err }, "progress write failed"));
      },
      async onImage(image: ProducedImage) {
        if (!current || attemptSignal.aborted)
          throw attemptSignal.reason ?? new Error("late image");
        const key = imageKey(taskId, image.index, image.contentType);
        const bytes = image.data.length;
        // Providers never read an image's bytes after handing it over (contract.ts).
        await a.media.put(key, image.data, image.contentType, { handOver: true });
        if (!current || attemptSignal.aborted)
          throw attemptSignal.reason ?? new Error("late image");
        images.push({
          key,
          contentType: image.contentType,
          bytes,
          width: image.width,
          height: image.height,
        });
      },
    });
    call.catch(() => {}); // it may settle after we stopped waiting
    // A provider that ignores the abort must not hold the task past its limit.
    const outcome = await Promise.race([call, aborted.promise]);
    if (signal.aborted) return { kind: "aborted", reason: signal.reason };
    return { kind: "ok", outcome };
  } catch (err) {
    if (signal.aborted) return { kind: "aborted", reason: signal.reason };
    if (timedOut.signal.aborted) {
      // A call past its limit may still be running (and billing) upstream.
      const safe = guaranteesOf(lease.provider, lease.channel.options).safeToRepeat;
      return {
        kind: "error",
        error: new ProviderError(
          "generation_timeout",
          "The upstream did not finish within the channel's time limit.",
          safe,
          !safe,
        ),
      };
    }
    if (err instanceof ProviderError) return { kind: "error", error: err };
    a.log.error({ err, channel: lease.channel.id }, "provider failed unexpectedly");
    return {
      kind: "error",
      error: new ProviderError("unknown_error", "The generation failed unexpectedly.", false),
    };
  } finally {
    current = false;
    aborted.dispose();
    linked.dispose();
    clearTimeout(timer);
  }
}

function rejectOnAbort(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  promise.catch(() => {}); // only ever awaited through the race
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}
