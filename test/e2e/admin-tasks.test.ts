/**
 * The console's admin API end to end (issue 15): /admin/v1/tasks (every account's
 * tasks, filtered, keyset-paged), /admin/v1/tasks/{id} (timeline with each upstream
 * attempt, results, callbacks), /admin/v1/tasks/{id}/cancel and /admin/v1/stats, on a
 * real server whose test model fails over between two scripted channels.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeUpstream } from "../channels/fake-upstream.js";
import {
  addAccount,
  ledgerInvariants,
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";
import { freshSchema, PG_URL, postgresAnswers } from "../helpers/postgres.js";

const fake = new FakeUpstream();
const cfgDir = mkdtempSync(path.join(tmpdir(), "darkroom-admin-tasks-"));
afterAll(() => rmSync(cfgDir, { recursive: true, force: true }));
const pgUp = await postgresAnswers();
let s: TestServer;
let otherKey: string;
let otherAccount: string;
let drop: (() => Promise<void>) | undefined;
/** The servers' log lines (info: the audit log), and a callback receiver that answers 200. */
const logged: string[] = [];
let receiver: Server;
let hookUrl = "";
beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end("ok"));
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise((r) => receiver?.close(r)));

const channel = (id: string, model: string, priority: number) => ({
  id,
  model,
  provider: "fake",
  api_key_env: "FAKE_KEY",
  upstream_model: `up-${id}`,
  priority,
});

function backendSetup(backend: "sqlite" | "postgres") {
  beforeAll(async () => {
    const file = path.join(cfgDir, "darkroom.json");
    writeFileSync(
      file,
      JSON.stringify({
        models: ["m-console", "m-hold"].map((id) => ({
          id,
          extends: "doubao-seedream-4.0",
          price: "1",
        })),
        // No breaker trips in this file: each case fails a channel at most once.
        breaker: { failure_threshold: 50, cool_down_ms: 400 },
        channels: [
          channel("con-1", "m-console", 0),
          channel("con-2", "m-console", 1),
          channel("hold-1", "m-hold", 0),
        ],
      }),
    );
    const env: Record<string, string> = {
      DARKROOM_CONFIG: file,
      FAKE_KEY: "fake-secret",
      DARKROOM_RUNNER_CONCURRENCY: "4",
      // The default level (the audit log), and callbacks to the local receiver.
      LOG_LEVEL: "info",
      DARKROOM_ALLOW_HTTP_CALLBACKS: "true",
      DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
    };
    if (backend === "postgres") {
      const fresh = await freshSchema();
      drop = fresh.drop;
      const url = new URL(PG_URL);
      url.searchParams.set("options", `-c search_path=${fresh.schema}`);
      env.DATABASE_URL = url.toString();
      env.DARKROOM_DB_POOL_MAX = "4";
    }
    s = await startTestServer(env, {
      extraProviders: [fake.provider("fake", { canCancel: true })],
      logTo: { write: (l: string) => void logged.push(l) },
    });
    otherKey = "sk-console-other-0000000000000000000000000000";
    otherAccount = await addAccount(s.admin, { name: "console-other", key: otherKey, credits: 50 });
  });
  afterAll(async () => {
    await ledgerInvariants(s.admin);
    await s.stop();
    await drop?.();
  });
}

const admin = (p: string, init: { method?: string; body?: unknown; key?: string | null } = {}) =>
  request(`${s.url}/admin/v1${p}`, { key: TEST_ADMIN_TOKEN, ...init });
const submit = (model: string, prompt: string, key?: string) =>
  s.api("/v1/images/generations", {
    body: { model, prompt, size: "1K" },
    ...(key ? { key } : {}),
  });

async function finished(model: string, prompt: string, key?: string): Promise<string> {
  const t = await submit(model, prompt, key);
  expect(t.status).toBe(200);
  await waitForTask(s, t.json.id, key);
  return t.json.id as string;
}

for (const backend of ["sqlite", "postgres"] as const)
  describe.skipIf(backend === "postgres" && !pgUp)(`admin task API (${backend})`, () => {
    backendSetup(backend);
    // Prompts name the backend: the fake upstream records calls of both servers.
    const P = (prompt: string) => `${prompt} (${backend})`;
    it("refuses a missing or wrong admin token on every route", async () => {
      for (const [method, p] of [
        ["GET", "/tasks"],
        ["GET", "/tasks/task-unified-1-x"],
        ["POST", "/tasks/task-unified-1-x/cancel"],
        ["GET", "/stats"],
      ] as const) {
        for (const key of [null, "dra-wrong-token", s.apiKey]) {
          const r = await admin(p, { method, key });
          expect(r.status, `${method} ${p} with ${key}`).toBe(401);
          expect(r.json.error).toBeDefined();
        }
      }
    });

    it("shows a task that failed over across two channels with both upstream attempts", async () => {
      fake.script("con-1", { kind: "error", code: "service_error", retryable: true });
      const id = await finished("m-console", P("fails over to the second channel"));
      expect(fake.channelsFor(P("fails over to the second channel"))).toEqual(["con-1", "con-2"]);

      const r = await admin(`/tasks/${id}`);
      expect(r.status).toBe(200);
      const t = r.json;
      expect(t).toMatchObject({
        id,
        model: "m-console",
        status: "completed",
        progress: 100,
        n: 1,
        prompt: P("fails over to the second channel"),
        channel_id: "con-2",
        credits_reserved: 1,
        credits_used: 1,
        error: null,
        request: { prompt: P("fails over to the second channel") },
        callbacks: [],
      });
      expect(t.finished_at).toBeGreaterThanOrEqual(t.created_at);
      expect(t.duration_ms).toBeGreaterThanOrEqual(0);
      expect(t.results).toHaveLength(1);
      // The thumbnail is the first result's signed link, and it serves the image.
      expect(t.thumbnail_url).toBe(t.results[0]);
      const image = await fetch(t.thumbnail_url);
      expect(image.status).toBe(200);

      const events = t.timeline.map((e: { event: string }) => e.event);
      expect(events).toEqual([
        "submitted",
        "claimed",
        "upstream_attempt",
        "upstream_attempt",
        "finished",
      ]);
      const attempts = t.timeline.filter((e: { event: string }) => e.event === "upstream_attempt");
      expect(attempts[0]).toMatchObject({
        channel_id: "con-1",
        outcome: "error",
        error_code: "service_error",
      });
      expect(attempts[1]).toMatchObject({ channel_id: "con-2", outcome: "ok", error_code: null });
      for (const a of attempts) expect(a.duration_ms).toBeGreaterThanOrEqual(0);
      const times = t.timeline.map((e: { at_ms: number }) => e.at_ms);
      expect(times).toEqual([...times].sort((a: number, b: number) => a - b));
      expect(t.timeline.at(-1)).toMatchObject({ event: "finished", outcome: "completed" });
    });

    it("shows a failed task's error in the listing and the detail", async () => {
      fake.script("con-1", { kind: "error", code: "content_policy_violation", retryable: false });
      const id = await finished("m-console", P("refused by the upstream"));
      const list = await admin(`/tasks?status=failed&model=m-console`);
      const row = list.json.data.find((t: { id: string }) => t.id === id);
      expect(row).toMatchObject({
        status: "failed",
        credits_used: 0,
        thumbnail_url: null,
        channel_id: "con-1",
        error: { code: "content_policy_violation" },
      });
      expect(typeof row.error.message).toBe("string");
      const detail = await admin(`/tasks/${id}`);
      expect(detail.json.results).toEqual([]);
      expect(detail.json.timeline.at(-1)).toMatchObject({
        event: "finished",
        outcome: "failed",
        error_code: "content_policy_violation",
      });
    });

    it("lists every account's tasks newest first, filtered, one cursor walk", async () => {
      const mine = [
        await finished("m-console", P("listing one")),
        await finished("m-console", P("listing two")),
      ];
      const theirs = await finished("m-console", P("listing theirs"), otherKey);

      const all = await admin(`/tasks?limit=100`);
      expect(all.status).toBe(200);
      expect(all.json).toMatchObject({ object: "list", has_more: false, next_cursor: null });
      const ids = all.json.data.map((t: { id: string }) => t.id);
      for (const id of [...mine, theirs]) expect(ids).toContain(id);
      const created = all.json.data.map((t: { created_at: number }) => t.created_at);
      expect(created).toEqual([...created].sort((a: number, b: number) => b - a));

      // The cursor walk reads the same tasks in the same order.
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const page: {
          json: { data: Array<{ id: string }>; has_more: boolean; next_cursor: string | null };
        } = await admin(`/tasks?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        expect(page.json.data.length).toBeLessThanOrEqual(2);
        expect(page.json.has_more).toBe(page.json.next_cursor !== null);
        walked.push(...page.json.data.map((t) => t.id));
        cursor = page.json.next_cursor;
      } while (cursor);
      expect(walked).toEqual(ids);

      const byAccount = await admin(`/tasks?account_id=${otherAccount}`);
      expect(byAccount.json.data.map((t: { id: string }) => t.id)).toEqual([theirs]);
      expect(byAccount.json.data[0].account_id).toBe(otherAccount);
      // Blank parameters are no filter, as the public listing takes them.
      const blank = await admin(`/tasks?status=&model=&account_id=&channel_id=&limit=100`);
      expect(blank.json.data.map((t: { id: string }) => t.id)).toEqual(ids);
      for (const [q, keep] of [
        ["status=completed", (t: { status: string }) => t.status === "completed"],
        ["model=m-console", (t: { model: string }) => t.model === "m-console"],
        ["channel_id=con-2", (t: { channel_id: string }) => t.channel_id === "con-2"],
        [
          "status=completed&channel_id=con-2",
          (t: { status: string; channel_id: string }) =>
            t.status === "completed" && t.channel_id === "con-2",
        ],
      ] as const) {
        const r = await admin(`/tasks?${q}&limit=100`);
        expect(r.status).toBe(200);
        const want = all.json.data.filter(keep).map((t: { id: string }) => t.id);
        expect(want.length).toBeGreaterThan(0);
        expect(
          r.json.data.map((t: { id: string }) => t.id),
          q,
        ).toEqual(want);
      }
    });

    it("answers bad input with a 400 that names the parameter, and an unknown task with 404", async () => {
      for (const [q, param] of [
        ["status=done", "status"],
        ["limit=0", "limit"],
        ["limit=101", "limit"],
        ["limit=ten", "limit"],
        ["cursor=not-a-cursor", "cursor"],
        // A cursor of another listing is not one of this one.
        [`cursor=${Buffer.from('["accounts",1,"x"]').toString("base64url")}`, "cursor"],
      ]) {
        const r = await admin(`/tasks?${q}`);
        expect(r.status, q).toBe(400);
        expect(r.json.error).toMatchObject({ code: "invalid_request", param });
      }
      for (const q of ["minutes=0", "minutes=1441", "minutes=abc", "minutes=1.5"]) {
        const r = await admin(`/stats?${q}`);
        expect(r.status, q).toBe(400);
        expect(r.json.error).toMatchObject({ code: "invalid_request", param: "minutes" });
      }
      for (const [method, p] of [
        ["GET", "/tasks/task-unified-1-nosuchtask"],
        ["POST", "/tasks/task-unified-1-nosuchtask/cancel"],
      ] as const) {
        const r = await admin(p, { method });
        expect(r.status).toBe(404);
        expect(r.json.error.code).toBe("not_found");
      }
    });

    it("cancels a running task as an operator, once", async () => {
      fake.script("hold-1", { kind: "hang" });
      const callsBefore = fake.callsTo("hold-1");
      const t = await submit("m-hold", P("held until cancelled"), otherKey);
      const id = t.json.id as string;
      // Wait until the upstream call is running.
      for (let i = 0; i < 500 && fake.callsTo("hold-1") === callsBefore; i++)
        await new Promise((r) => setTimeout(r, 10));
      const r = await admin(`/tasks/${id}/cancel`, { method: "POST" });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({
        id,
        account_id: otherAccount,
        status: "failed",
        credits_used: 0,
        error: { code: "request_cancelled" },
      });
      // The audit log names the operator's cancel, the task's account and the outcome.
      // Written once the answer is sent: it may land a moment after the answer.
      const audited = () =>
        logged
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((l) => l.event === "admin.audit" && l.taskId === id);
      for (let i = 0; i < 200 && audited().length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      const audits = audited();
      expect(audits).toHaveLength(1);
      expect(audits[0]).toMatchObject({
        who: "admin",
        action: "POST /admin/v1/tasks/:id/cancel",
        accountId: otherAccount,
        result: "requested",
        status: 200,
      });
      const again = await admin(`/tasks/${id}/cancel`, { method: "POST" });
      expect(again.status).toBe(409);
      expect(again.json.error.code).toBe("task_not_cancellable");
      const events = (await admin(`/tasks/${id}`)).json.timeline.map(
        (e: { event: string }) => e.event,
      );
      expect(events).toEqual([
        "submitted",
        "claimed",
        "upstream_attempt",
        "cancel_requested",
        "finished",
      ]);
    });

    it("shows a task's callback delivery with its attempts", async () => {
      const t = await s.api("/v1/images/generations", {
        body: { model: "m-console", prompt: P("called back"), size: "1K", callback_url: hookUrl },
      });
      expect(t.status, t.text).toBe(200);
      await waitForTask(s, t.json.id);
      let callbacks: Array<{ status: string; attempts: unknown[] }> = [];
      for (let i = 0; i < 500; i++) {
        callbacks = (await admin(`/tasks/${t.json.id}`)).json.callbacks;
        if (callbacks[0]?.status === "delivered") break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(callbacks).toHaveLength(1);
      expect(callbacks[0]).toMatchObject({ status: "delivered", url: hookUrl });
      expect(callbacks[0]!.attempts).toHaveLength(1);
      expect(callbacks[0]!.attempts[0]).toMatchObject({ status_code: 200, error: null });
    });

    it("sums the last minutes: outcomes, success rate, credits, durations and the queue", async () => {
      const before = await admin(`/stats?minutes=5`);
      expect(before.status).toBe(200);
      const id = await finished("m-console", P("counted in the stats"));
      const r = await admin(`/stats?minutes=5`);
      expect(r.json).toMatchObject({ object: "stats", window_minutes: 5 });
      expect(r.json.per_minute).toHaveLength(5);
      const minutes = r.json.per_minute.map((m: { minute: number }) => m.minute);
      for (let i = 1; i < minutes.length; i++) expect(minutes[i] - minutes[i - 1]).toBe(60);
      const total = (a: typeof r, k: string) =>
        a.json.per_minute.reduce((n: number, m: Record<string, number>) => n + m[k]!, 0);
      expect(total(r, "submitted")).toBe(total(before, "submitted") + 1);
      expect(total(r, "completed")).toBe(total(before, "completed") + 1);
      expect(r.json.credits_spent).toBe(before.json.credits_spent + 1);
      const completed = total(r, "completed");
      const failed = total(r, "failed");
      expect(r.json.success_rate).toBeCloseTo(completed / (completed + failed), 10);
      const task = (await admin(`/tasks/${id}`)).json;
      const row = r.json.durations.find(
        (d: { model: string; channel_id: string }) =>
          d.model === "m-console" && d.channel_id === task.channel_id,
      );
      expect(row.count).toBeGreaterThanOrEqual(1);
      expect(row.p50_ms).toBeLessThanOrEqual(row.p95_ms);
      expect(typeof r.json.queue_depth).toBe("object");
      expect(r.json.in_flight).toBeGreaterThanOrEqual(0);

      // The default window is an hour.
      const hour = await admin(`/stats`);
      expect(hour.json.window_minutes).toBe(60);
      expect(hour.json.per_minute).toHaveLength(60);
    });
  });
