/**
 * What happens to one claimed task, start to finish:
 *
 *   claimed ─► crash check ─► provider.generate ─► store each image ─► finish (1 tx)
 *                 │                 │                                   ▲
 *                 │                 ├─ ProviderError ───────────────────┤ failed + refund
 *                 │                 ├─ cancelled ───────────────────────┤ failed request_cancelled + refund
 *                 │                 └─ lease lost / shutdown ─► write nothing (another claim owns it)
 *                 └─ repeated attempt on a provider that may have charged ─► failed service_error + refund
 *
 * Progress is written at most every PROGRESS_MIN_INTERVAL_MS per task and only when it
 * grows, so a chatty provider does not turn into a write storm.
 */
import type { Logger } from "pino";
import { chargeMicros } from "../core/money.js";
import type { DurationEstimator } from "../core/estimate.js";
import type { FailureCode, StoredImage } from "../core/types.js";
import type { MediaStorage } from "../media/storage.js";
import type { DarkroomEventBus } from "../obs/events.js";
import { ProviderError, type ProducedImage } from "../providers/contract.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { ClaimedTask, Store, TaskOutcome } from "../store/store.js";
import { TaskAbort, type TaskPipeline } from "./runner.js";

const PROGRESS_MIN_INTERVAL_MS = 250;
/** A task claimed this many times has crashed its runners repeatedly: stop retrying it. */
export const MAX_ATTEMPTS = 5;

export interface PipelineDeps {
  store: Store;
  registry: ProviderRegistry;
  media: MediaStorage;
  estimator: DurationEstimator;
  events: DarkroomEventBus;
  log: Logger;
  now?: () => number;
}

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
};

export function imageKey(taskId: string, index: number, contentType: string): string {
  return `images/${taskId}/${index}.${EXTENSIONS[contentType] ?? "bin"}`;
}

export function createPipeline(deps: PipelineDeps): TaskPipeline {
  const now = deps.now ?? Date.now;

  return async function runTask(claimed: ClaimedTask, signal: AbortSignal): Promise<void> {
    const { task, leaseToken } = claimed;
    const log = deps.log.child({ taskId: task.id });
    deps.events.emit("task:claimed", { taskId: task.id, attempt: task.attempts });

    const finish = async (outcome: TaskOutcome): Promise<void> => {
      const ok = await deps.store.finishTask(task.id, leaseToken, outcome, now());
      if (!ok) {
        log.warn("lease lost before the task could finish; another runner owns it");
        deps.events.emit("task:lease_lost", { taskId: task.id });
        return;
      }
      const seconds = (now() - task.createdAt * 1000) / 1000;
      if (outcome.kind === "completed") deps.estimator.record(task.model, seconds);
      deps.events.emit("task:finished", {
        taskId: task.id,
        status: outcome.kind,
        model: task.model,
        seconds,
        ...(outcome.kind === "failed" ? { code: outcome.code } : {}),
      });
    };
    const fail = (code: FailureCode, message: string) => finish({ kind: "failed", code, message });

    const route = deps.registry.route(task.model);
    if (!route) {
      await fail("service_unavailable", "No upstream is available for this model.");
      return;
    }
    if (task.attempts > MAX_ATTEMPTS) {
      await fail("unknown_error", "The task was interrupted too many times and was abandoned.");
      return;
    }
    if (task.attempts > 1 && !route.provider.safeToRepeat) {
      // The previous runner died mid-call: the upstream may already have charged for it.
      await fail(
        "service_error",
        "The task was interrupted while generating and was not repeated, to avoid a double charge.",
      );
      return;
    }

    const images: StoredImage[] = [];
    let lastProgress = task.progress;
    let lastProgressWrite = 0;
    let progressWrite: Promise<unknown> = Promise.resolve();

    try {
      const outcome = await route.provider.generate(task.request, {
        signal,
        channel: route.channel,
        referenceImages: [],
        onProgress(percent) {
          const p = Math.max(0, Math.min(99, Math.floor(percent)));
          const t = now();
          if (p <= lastProgress || t - lastProgressWrite < PROGRESS_MIN_INTERVAL_MS) return;
          lastProgress = p;
          lastProgressWrite = t;
          progressWrite = progressWrite
            .then(() => deps.store.reportProgress(task.id, leaseToken, p, t))
            .catch((err: unknown) => log.warn({ err }, "progress write failed"));
        },
        async onImage(image: ProducedImage) {
          if (signal.aborted) throw signal.reason;
          const key = imageKey(task.id, image.index, image.contentType);
          await deps.media.put(key, image.data, image.contentType);
          images.push({
            key,
            contentType: image.contentType,
            bytes: image.data.length,
            width: image.width,
            height: image.height,
          });
        },
      });
      await progressWrite;
      if (signal.aborted) throw signal.reason;
      images.sort((a, b) => indexOf(a) - indexOf(b));
      if (images.length === 0) {
        const first = outcome.failures[0];
        await fail(
          first?.code ?? "generation_failed_no_content",
          first?.message ?? "The upstream finished without producing any image.",
        );
        return;
      }
      await finish({
        kind: "completed",
        images,
        chargeMicros: chargeMicros(claimed.priceMicros, images.length, claimed.multiplierPpm),
      });
    } catch (err) {
      await progressWrite;
      const reason = signal.aborted ? signal.reason : err;
      if (reason instanceof TaskAbort) {
        if (reason.reason === "cancelled")
          await fail("request_cancelled", "The task was cancelled.");
        // lease_lost / shutdown: write nothing; whoever holds the task now finishes it.
        return;
      }
      if (err instanceof ProviderError) {
        await fail(err.code, err.message);
        return;
      }
      log.error({ err }, "provider failed unexpectedly");
      await fail("unknown_error", "The generation failed unexpectedly.");
    }
  };
}

function indexOf(img: StoredImage): number {
  const m = /\/(\d+)\.[a-z]+$/.exec(img.key);
  return m ? Number(m[1]) : 0;
}
