/**
 * The operator's JSON of a task (/admin/v1/tasks): snake_case like the public API,
 * times in unix seconds (and the timeline's in ms), credits as decimal numbers, result
 * links signed as in the public task JSON.
 */
import { microsToCredits } from "../../../core/money.js";
import type { LinkSigner } from "../../../core/public-task.js";
import { isTerminal } from "../../../core/task-state.js";
import type { OperatorTaskRecord } from "../../../store/operator-tasks.js";
import type { TrailEntry } from "../../../store/store.js";
import type { DeliveryRecord } from "../../../store/webhooks.js";

/** How much of a prompt a summary shows, in characters (never half a surrogate pair). */
const PROMPT_CHARS = 200;

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function adminTaskSummary(t: OperatorTaskRecord, sign: LinkSigner) {
  const terminal = isTerminal(t.status);
  const first = t.status === "completed" ? t.results[0] : undefined;
  return {
    id: t.id,
    object: "admin_task",
    account_id: t.accountId,
    api_key_id: t.apiKeyId,
    model: t.model,
    status: t.status,
    progress: t.status === "completed" ? 100 : Math.min(t.progress, 99),
    n: t.n,
    prompt: [...t.request.prompt].slice(0, PROMPT_CHARS).join(""),
    created_at: t.createdAt,
    finished_at: seconds(t.finishedMs),
    duration_ms: t.finishedMs === null ? null : t.finishedMs - t.createdMs,
    credits_reserved: microsToCredits(t.creditsReservedMicros),
    credits_used: terminal ? microsToCredits(t.creditsUsedMicros ?? 0) : null,
    channel_id: t.channelId,
    error:
      t.status === "failed"
        ? {
            code: t.errorCode ?? "unknown_error",
            message: t.errorMessage ?? "The task failed.",
          }
        : null,
    thumbnail_url: first ? sign(first.key) : null,
  };
}

type TimelineEvent = {
  at_ms: number;
  event:
    "submitted" | "claimed" | "upstream_attempt" | "finished" | "cancel_requested" | "handed_back";
  channel_id?: string | null;
  outcome?: string | null;
  error_code?: string | null;
  duration_ms?: number | null;
};

/** Submitted, then what each claim did (its trail), then the finish; in time order. */
export function timeline(t: OperatorTaskRecord, trail: readonly TrailEntry[]): TimelineEvent[] {
  const events: TimelineEvent[] = [{ at_ms: t.createdMs, event: "submitted" }];
  for (const e of trail) {
    if (e.kind === "upstream_attempt") {
      events.push({
        at_ms: e.atMs,
        event: "upstream_attempt",
        channel_id: e.channelId ?? null,
        outcome: e.outcome ?? null,
        error_code: e.errorCode ?? null,
        duration_ms: e.endedMs === null || e.endedMs === undefined ? null : e.endedMs - e.atMs,
      });
    } else {
      events.push({ at_ms: e.atMs, event: e.kind });
    }
  }
  if (t.finishedMs !== null) {
    events.push({
      at_ms: t.finishedMs,
      event: "finished",
      outcome: t.status,
      ...(t.status === "failed" ? { error_code: t.errorCode ?? "unknown_error" } : {}),
      duration_ms: t.finishedMs - t.createdMs,
    });
  }
  // Stable: events of one instant keep the order they happened in.
  return events.sort((a, b) => a.at_ms - b.at_ms);
}

export function adminTaskDetail(
  t: OperatorTaskRecord,
  trail: readonly TrailEntry[],
  deliveries: readonly DeliveryRecord[],
  sign: LinkSigner,
) {
  return {
    ...adminTaskSummary(t, sign),
    request: t.request,
    results: t.status === "completed" ? t.results.map((r) => sign(r.key)) : [],
    timeline: timeline(t, trail),
    callbacks: deliveries.map((d) => ({
      id: d.id,
      status: d.status,
      url: d.url,
      attempts: d.attemptList.map((a) => ({
        at_ms: a.createdAt,
        status_code: a.statusCode,
        error: a.errorMessage ?? a.errorKind ?? null,
        duration_ms: a.latencyMs,
      })),
    })),
  };
}
