/**
 * GET /metrics (issue 15, item 5), scraped from a real server after real traffic:
 * submissions and polls on the fast paths and through Fastify, a 404, a completed and a
 * failed task, a delivered callback. Each series is checked by its labels and values;
 * HTTP counts are compared as differences between two scrapes, so they are exact.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_MODELS } from "../../src/core/models.js";
import { parseExposition, Scrape } from "../helpers/prometheus.js";
import {
  request,
  startTestServer,
  waitForTask,
  warmKeyCache,
  type TestServer,
} from "../helpers/server.js";

const TOKEN = "metrics-token-0123456789abcdef";
const MODEL = "doubao-seedream-4.0";
const SANDBOX = `sandbox:${MODEL}`;

let s: TestServer;
let receiver: Server;
let receiverUrl = "";
const received: string[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    received.push(req.url ?? "");
    req.resume();
    req.on("end", () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  s = await startTestServer({
    DARKROOM_METRICS_TOKEN: TOKEN,
    DARKROOM_ALLOW_HTTP_CALLBACKS: "true",
    DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
  });
  await warmKeyCache(s, s.apiKey);
});
afterAll(async () => {
  await s?.stop();
  await new Promise((r) => receiver?.close(r));
});

async function scrape(server: Pick<TestServer, "url"> = s, token: string | null = TOKEN) {
  const r = await request(`${server.url}/metrics`, { key: token });
  expect(r.status, r.text).toBe(200);
  return new Scrape(parseExposition(r.text));
}

const http = (labels: Record<string, string>) => ({ method: "GET", ...labels });

describe("GET /metrics", () => {
  it("asks for the bearer token when one is configured", async () => {
    const none = await request(`${s.url}/metrics`, { key: null });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(none.json.error.code).toBe("unauthorized");
    const wrong = await request(`${s.url}/metrics`, { key: "not-the-metrics-token-000" });
    expect(wrong.status).toBe(401);
    const right = await request(`${s.url}/metrics`, { key: TOKEN });
    expect(right.status).toBe(200);
    expect(right.headers.get("content-type")).toContain("text/plain");
    expect(right.text).toContain("# TYPE darkroom_http_requests_total counter");
  });

  it("counts every request by route, handler and status, fast paths included", async () => {
    const before = await scrape();
    const submitted = await s.api("/v1/images/generations", {
      body: { model: MODEL, prompt: "counted on the fast path" },
    });
    expect(submitted.status).toBe(200);
    const id: string = submitted.json.id;
    for (let i = 0; i < 3; i++) expect((await s.api(`/v1/tasks/${id}`)).status).toBe(200);
    // An Idempotency-Key is the route's (Fastify), not the fast path's.
    const framework = await s.api("/v1/images/generations", {
      body: { model: MODEL, prompt: "counted in the framework" },
      headers: { "idempotency-key": "metrics-1" },
    });
    expect(framework.status).toBe(200);
    expect((await s.api("/no/such/route")).status).toBe(404);
    expect((await s.api("/v1/tasks/task-unified-1-zzzzzzzz")).status).toBe(404);
    const after = await scrape();

    const delta = (labels: Record<string, string>) =>
      (after.value("darkroom_http_requests_total", labels) ?? 0) -
      (before.value("darkroom_http_requests_total", labels) ?? 0);
    const route = "/v1/images/generations";
    expect(delta({ route, handler: "submit-fast-path", status: "200", method: "POST" })).toBe(1);
    expect(delta({ route, handler: "framework", status: "200", method: "POST" })).toBe(1);
    const poll = "/v1/tasks/:taskId";
    expect(delta(http({ route: poll, handler: "poll-fast-path", status: "200" }))).toBe(3);
    // Both tasks end here, so the next test counts only its own.
    await waitForTask(s, id);
    await waitForTask(s, framework.json.id);
    expect(delta(http({ route: poll, handler: "framework", status: "404" }))).toBe(1);
    expect(delta(http({ route: "(no route)", status: "404" }))).toBe(1);
    // The scrape before this one was itself counted once it was answered.
    expect(delta(http({ route: "/metrics", status: "200" }))).toBe(1);

    // Latency: one observation per request, in the histogram of the same route and status.
    const count = (sc: Scrape) =>
      sc.value(
        "darkroom_http_request_duration_seconds_count",
        http({ route: poll, status: "200" }),
      );
    expect(count(after)! - (count(before) ?? 0)).toBe(3);
    const inf = after.value(
      "darkroom_http_request_duration_seconds_bucket",
      http({ route: poll, status: "200", le: "+Inf" }),
    );
    expect(inf).toBe(count(after));
  });

  it("counts tasks by model, status and code, with their durations, charges and callback", async () => {
    const before = await scrape();
    const ok = await s.api("/v1/images/generations", {
      body: {
        model: MODEL,
        prompt: "a completed task",
        n: 2,
        size: "16:9",
        quality: "1K",
        callback_url: `${receiverUrl}/hook`,
      },
    });
    const bad = await s.api("/v1/images/generations", {
      body: { model: MODEL, prompt: "[sandbox:fail=content_policy_violation] refused" },
    });
    expect([ok.status, bad.status]).toEqual([200, 200]);
    const done = (await waitForTask(s, ok.json.id)).final;
    const failed = (await waitForTask(s, bad.json.id)).final;
    expect(done.status).toBe("completed");
    expect(failed.status).toBe("failed");
    // The callback is sent after the finish; wait for its attempt to be counted.
    let after = await scrape();
    for (let i = 0; i < 200; i++) {
      if (after.value("darkroom_webhook_attempts_total", { outcome: "delivered" }) === 1) break;
      await new Promise((r) => setTimeout(r, 25));
      after = await scrape();
    }
    const delta = (name: string, labels: Record<string, string> = {}) =>
      (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);

    expect(delta("darkroom_tasks_submitted_total", { model: MODEL })).toBe(2);
    expect(delta("darkroom_tasks_claimed_total", { model: MODEL })).toBe(2);
    expect(delta("darkroom_tasks_finished_total", { model: MODEL, status: "completed" })).toBe(1);
    expect(
      delta("darkroom_tasks_finished_total", {
        model: MODEL,
        status: "failed",
        code: "content_policy_violation",
      }),
    ).toBe(1);
    expect(delta("darkroom_task_queue_wait_seconds_count", { model: MODEL })).toBe(2);
    expect(
      delta("darkroom_task_duration_seconds_count", { model: MODEL, status: "completed" }),
    ).toBe(1);
    expect(delta("darkroom_task_duration_seconds_count", { model: MODEL, status: "failed" })).toBe(
      1,
    );
    const upstream = { model: MODEL, channel: SANDBOX, provider: "sandbox" };
    expect(delta("darkroom_upstream_calls_total", { ...upstream, outcome: "ok" })).toBe(1);
    expect(
      delta("darkroom_upstream_calls_total", {
        ...upstream,
        outcome: "error",
        code: "content_policy_violation",
      }),
    ).toBe(1);
    expect(delta("darkroom_upstream_duration_seconds_count", upstream)).toBe(2);
    // Charged what the task says it used (2 images); the failed one was refunded.
    expect(delta("darkroom_credits_charged_total", { model: MODEL })).toBeCloseTo(
      done.usage.credits_used,
      9,
    );
    expect(done.usage.credits_used).toBeGreaterThan(0);
    expect(delta("darkroom_webhook_attempts_total", { outcome: "delivered" })).toBe(1);
    expect(delta("darkroom_webhook_attempt_duration_seconds_count", { outcome: "delivered" })).toBe(
      1,
    );
    expect(received).toContain("/hook");
  });

  it("reads the queue, the runner and the channels at scrape time", async () => {
    const sc = await scrape();
    for (const m of BUILTIN_MODELS) {
      expect(sc.value("darkroom_tasks_queued", { model: m.id }), m.id).toBeDefined();
      expect(sc.value("darkroom_tasks_processing", { model: m.id }), m.id).toBeDefined();
    }
    expect(sc.value("darkroom_metrics_source_up", { source: "queue" })).toBe(1);
    expect(sc.value("darkroom_runner_concurrency")).toBe(64);
    expect(sc.value("darkroom_runner_in_flight")).toBeGreaterThanOrEqual(0);
    const channel = { channel: SANDBOX, model: MODEL, provider: "sandbox" };
    expect(sc.value("darkroom_channel_usable", channel)).toBe(1);
    expect(sc.value("darkroom_channel_in_flight", channel)).toBeGreaterThanOrEqual(0);
    expect(sc.value("darkroom_channel_breaker_state", { ...channel, state: "closed" })).toBe(1);
    expect(sc.value("darkroom_channel_breaker_state", { ...channel, state: "open" })).toBe(0);
    // The built-in sandbox channels have no concurrency limit: no such series.
    expect(sc.value("darkroom_channel_max_concurrency", channel)).toBeUndefined();
    // Node's own process metrics come along.
    expect(sc.value("process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sc.value("nodejs_eventloop_lag_seconds")).toBeDefined();
  });
});

describe("queue depth and switches", () => {
  it("counts pending tasks per model when no runner takes them", async () => {
    const api = await startTestServer({ DARKROOM_RUNNER: "false" });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await api.api("/v1/images/generations", { body: { model: MODEL, prompt: "q" } });
        expect(r.status).toBe(200);
      }
      const r = await api.api("/v1/images/generations", {
        body: { model: "gpt-image-1", prompt: "q" },
      });
      expect(r.status).toBe(200);
      // Open: no token configured.
      const sc = await scrape(api, null);
      expect(sc.value("darkroom_tasks_queued", { model: MODEL })).toBe(3);
      expect(sc.value("darkroom_tasks_queued", { model: "gpt-image-1" })).toBe(1);
      expect(sc.value("darkroom_tasks_queued", { model: "doubao-seedream-4.5" })).toBe(0);
      expect(sc.value("darkroom_tasks_processing", { model: MODEL })).toBe(0);
      expect(sc.value("darkroom_tasks_submitted_total", { model: MODEL })).toBe(3);
      expect(sc.value("darkroom_runner_concurrency")).toBe(0);
      expect(sc.value("darkroom_runner_in_flight")).toBe(0);
    } finally {
      await api.stop();
    }
  });

  it("DARKROOM_METRICS=false: no /metrics route", async () => {
    const off = await startTestServer({ DARKROOM_METRICS: "false" });
    try {
      const r = await request(`${off.url}/metrics`);
      expect(r.status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});
