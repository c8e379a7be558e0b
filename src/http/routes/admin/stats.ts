/**
 * /admin/v1/stats: the console's overview of the last `minutes` (1 to 1,440): tasks
 * per minute by outcome, success rate, credits spent, p50/p95 durations by model and
 * channel, and the queue now.
 *
 * Why it stays cheap at any number of tasks: the per-minute counts come from a rollup
 * the database keeps in the same transaction as each submission and terminal move
 * (task_minutes, migration 010), so a window reads at most 1,440 small rows, never the
 * tasks; the durations are the newest completions of each model in the window, at
 * most DURATION_SAMPLE_PER_MODEL each, from the tasks_finished index; the queue comes
 * from the counts the store keeps (activeTaskCounts). Range scans over the tasks'
 * times would cost O(tasks in the window): at a hundred tasks a second, a day is 8.6
 * million rows.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { microsToCredits } from "../../../core/money.js";
import { percentile } from "../../../core/percentile.js";
import type { DurationSample, MinuteCounts } from "../../../store/operator-tasks.js";
import type { AppDeps } from "../../app.js";
import { parseBody } from "./parse.js";

const MINUTES = "must be a whole number from 1 to 1440";
export const statsQuery = z.object({
  minutes: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z.coerce
      .number({ invalid_type_error: MINUTES })
      .int(MINUTES)
      .min(1, MINUTES)
      .max(1440, MINUTES)
      .default(60),
  ),
});

export type AdminStatsRouteDeps = Pick<AppDeps, "admin" | "store">;

export function adminStatsRoutes(app: FastifyInstance, deps: AdminStatsRouteDeps): void {
  app.get("/stats", async (req) => {
    const { minutes } = parseBody(statsQuery, req.query);
    const nowMs = Date.now();
    // The current minute and the minutes - 1 before it.
    const last = Math.floor(nowMs / 60_000) * 60;
    const first = last - (minutes - 1) * 60;
    const [activity, active] = await Promise.all([
      deps.admin.taskActivity(first * 1000, nowMs),
      deps.store.activeTaskCounts(),
    ]);
    const perMinute = fillMinutes(activity.minutes, first, last);
    const completed = sum(perMinute, (m) => m.completed);
    const failed = sum(perMinute, (m) => m.failed);
    const queueDepth: Record<string, number> = {};
    let inFlight = 0;
    for (const c of active) {
      if (c.status === "pending") queueDepth[c.model] = (queueDepth[c.model] ?? 0) + c.count;
      else inFlight += c.count;
    }
    return {
      object: "stats",
      window_minutes: minutes,
      per_minute: perMinute.map((m) => ({
        minute: m.minute,
        submitted: m.submitted,
        completed: m.completed,
        failed: m.failed,
      })),
      success_rate: completed + failed === 0 ? null : completed / (completed + failed),
      credits_spent: microsToCredits(sum(activity.minutes, (m) => m.creditsUsedMicros)),
      durations: durationRows(activity.durations),
      queue_depth: queueDepth,
      in_flight: inFlight,
    };
  });
}

const sum = <T>(rows: readonly T[], f: (r: T) => number) => rows.reduce((n, r) => n + f(r), 0);

/** Every minute of the window, oldest first, zero where nothing happened. */
function fillMinutes(rows: readonly MinuteCounts[], first: number, last: number): MinuteCounts[] {
  const byMinute = new Map(rows.map((r) => [r.minute, r]));
  const out: MinuteCounts[] = [];
  for (let m = first; m <= last; m += 60)
    out.push(
      byMinute.get(m) ?? { minute: m, submitted: 0, completed: 0, failed: 0, creditsUsedMicros: 0 },
    );
  return out;
}

/** p50 and p95 (nearest rank) per model and channel, from the sample. */
function durationRows(samples: readonly DurationSample[]) {
  const groups = new Map<string, { model: string; channelId: string | null; ms: number[] }>();
  for (const s of samples) {
    const key = JSON.stringify([s.model, s.channelId]);
    const g = groups.get(key) ?? { model: s.model, channelId: s.channelId, ms: [] };
    g.ms.push(s.durationMs);
    groups.set(key, g);
  }
  return [...groups.values()]
    .sort((a, b) => (a.model + (a.channelId ?? "")).localeCompare(b.model + (b.channelId ?? "")))
    .map((g) => {
      const sorted = g.ms.sort((a, b) => a - b);
      return {
        model: g.model,
        channel_id: g.channelId,
        count: sorted.length,
        p50_ms: percentile(sorted, 0.5),
        p95_ms: percentile(sorted, 0.95),
      };
    });
}
