/**
 * The metrics registry on its own (src/obs/metrics.ts): the request histogram kept in
 * plain numbers formats like prom-client's own, events are counted once and stop being
 * counted once unwatched, and a source that fails leaves the rest of the scrape intact.
 */
import { describe, expect, it } from "vitest";
import { DarkroomEventBus } from "../../src/obs/events.js";
import { DarkroomMetrics } from "../../src/obs/metrics.js";
import { parseExposition, Scrape } from "../helpers/prometheus.js";

async function scrape(m: DarkroomMetrics): Promise<Scrape> {
  return new Scrape(parseExposition((await m.render()).body));
}

describe("DarkroomMetrics", () => {
  it("keeps request durations as a cumulative histogram with sum and count", async () => {
    const m = new DarkroomMetrics({ processMetrics: false });
    for (const ms of [0.3, 0.7, 3, 40, 20_000])
      m.observeRequest("GET", "/v1/tasks/:taskId", "poll-fast-path", 200, ms);
    m.observeRequest("GET", "/v1/tasks/:taskId", "framework", 200, 2);
    m.observeRequest("GET", null, null, 408, 1);
    const sc = await scrape(m);
    const route = { method: "GET", route: "/v1/tasks/:taskId", status: "200" };
    const le = (v: string) =>
      sc.value("darkroom_http_request_duration_seconds_bucket", { ...route, le: v });
    expect([
      le("0.0005"),
      le("0.001"),
      le("0.0025"),
      le("0.005"),
      le("0.05"),
      le("10"),
      le("+Inf"),
    ]).toEqual([1, 2, 3, 4, 5, 5, 6]);
    expect(sc.value("darkroom_http_request_duration_seconds_count", route)).toBe(6);
    expect(sc.value("darkroom_http_request_duration_seconds_sum", route)).toBeCloseTo(20.046, 6);
    expect(sc.value("darkroom_http_requests_total", { ...route, handler: "poll-fast-path" })).toBe(
      5,
    );
    expect(sc.value("darkroom_http_requests_total", { ...route, handler: "framework" })).toBe(1);
    expect(
      sc.value("darkroom_http_requests_total", { route: "(none)", handler: "edge", status: "408" }),
    ).toBe(1);
    expect((await m.render()).body).toContain(
      "# TYPE darkroom_http_request_duration_seconds histogram",
    );
  });

  it("counts events while watching, and not after", async () => {
    const m = new DarkroomMetrics({ processMetrics: false });
    const events = new DarkroomEventBus();
    const unwatch = m.watch(events);
    const finished = {
      taskId: "t",
      status: "completed" as const,
      model: "m",
      seconds: 2,
      accountId: "a",
      attempt: 1,
      channel: "c",
      chargeMicros: 3_600_000,
    };
    events.emit("task:finished", finished);
    unwatch();
    events.emit("task:finished", finished);
    const sc = await scrape(m);
    expect(sc.value("darkroom_tasks_finished_total", { model: "m", status: "completed" })).toBe(1);
    expect(sc.value("darkroom_credits_charged_total", { model: "m" })).toBeCloseTo(3.6, 9);
    expect(sc.value("darkroom_task_duration_seconds_sum", { model: "m" })).toBe(2);
  });

  it("a queue read that fails leaves the queue out and the rest of the scrape in", async () => {
    const m = new DarkroomMetrics({ processMetrics: false });
    m.setSources({
      models: () => ["m"],
      activeTasks: () => Promise.reject(new Error("database gone")),
      runner: () => ({ inFlight: 2, concurrency: 8 }),
      channels: () => [
        {
          id: "c",
          model: "m",
          provider: "p",
          usable: true,
          state: "open",
          inFlight: 1,
          maxConcurrency: 4,
        },
      ],
    });
    const sc = await scrape(m);
    expect(sc.value("darkroom_tasks_queued")).toBeUndefined();
    expect(sc.value("darkroom_metrics_source_up", { source: "queue" })).toBe(0);
    expect(sc.value("darkroom_runner_in_flight")).toBe(2);
    expect(sc.value("darkroom_channel_breaker_state", { channel: "c", state: "open" })).toBe(1);
    expect(sc.value("darkroom_channel_breaker_state", { channel: "c", state: "closed" })).toBe(0);
    expect(sc.value("darkroom_channel_max_concurrency", { channel: "c" })).toBe(4);
  });
});
