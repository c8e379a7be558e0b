/**
 * The poll fast path (src/http/fast-paths/poll.ts) serves only the plain success case and
 * hands everything else to Fastify. These tests pin both halves: which requests it
 * takes (a raw server whose fallback answers 599), and that with the key cache on,
 * the real server's answers are the same whichever path served them.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { Edge } from "../../src/http/edge/edge.js";
import { TurnBatch } from "../../src/http/edge/turn-batched-response.js";
import { createPollFastPath } from "../../src/http/fast-paths/poll.js";
import { hashApiKey } from "../../src/core/credentials.js";
import { AuthGate, KeyCache } from "../../src/http/plugins/auth.js";
import type { Store } from "../../src/store/store.js";
import {
  TEST_ADMIN_TOKEN,
  addAccount,
  request,
  startTestServer,
  type TestServer,
} from "../helpers/server.js";

const OTHER_KEY = "sk-other000000000000000000000000000000000fast";
const FALLBACK = 599;

describe("poll fast path: which requests it takes", () => {
  let s: TestServer;
  let raw: Server;
  let base: string;
  let gate: AuthGate;
  let taskId: string;

  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false" });
    await addAccount(s.admin, { name: "other", key: OTHER_KEY, credits: 10 });
    const r = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "fast path" },
    });
    taskId = r.json.id;
    gate = new AuthGate(new KeyCache(s.store, 60_000));
    await gate.cache.lookup(hashApiKey(s.apiKey), Date.now());
    await gate.cache.lookup(hashApiKey(OTHER_KEY), Date.now());
    const fast = createPollFastPath({
      store: s.store,
      gate,
      signLink: (k) => `signed:${k}`,
    });
    // Through the edge, as in the real server: the request id is the edge's step.
    const edge = new Edge({
      log: pino({ level: "silent" }),
      accessLog: false,
      connections: { total: 1000, perAddress: 1000 },
      deadlines: {
        requestTimeoutMs: 60_000,
        minBytesPerSecond: 0,
        graceMs: 5000,
        checkEveryMs: 1000,
      },
    });
    raw = createServer((req, res) =>
      edge.handle(req, res, () => {
        const fallback = () => res.writeHead(FALLBACK).end();
        if (!fast(req, res, fallback)) fallback();
      }),
    );
    await new Promise<void>((ok) => raw.listen(0, "127.0.0.1", ok));
    base = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((ok) => raw.close(ok));
    await s.stop();
  });

  it("answers a cached, valid key's own task with the task JSON", async () => {
    const r = await request(`${base}/v1/tasks/${taskId}`, {}, s.apiKey);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json).toMatchObject({ id: taskId, status: "pending", progress: 0 });
    const echoed = await request(
      `${base}/v1/tasks/${taskId}`,
      { headers: { "x-request-id": "poll-42" } },
      s.apiKey,
    );
    expect(echoed.headers.get("x-request-id")).toBe("poll-42");
  });

  it("serves through the async read when a store has no synchronous one", async () => {
    const asyncOnly = {
      getTask: (a: string, t: string) => s.store.getTask(a, t),
    } as unknown as Store;
    const fast = createPollFastPath({
      store: asyncOnly,
      gate,
      signLink: (k) => k,
    });
    const srv = createServer((req, res) => {
      const fallback = () => res.writeHead(FALLBACK).end();
      if (!fast(req, res, fallback)) fallback();
    });
    await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const r = await request(`${url}/v1/tasks/${taskId}`, {}, s.apiKey);
      expect(r.status).toBe(200);
      expect(r.json.id).toBe(taskId);
      const missing = await request(`${url}/v1/tasks/task-unified-1-zzzzzzzz`, {}, s.apiKey);
      expect(missing.status).toBe(FALLBACK);
    } finally {
      await new Promise((ok) => srv.close(ok));
    }
  });

  it("answers polls that arrive together each with its own answer, written at the end of the turn", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `together-${i}`);
    const answers = await Promise.all(
      ids.map((id) =>
        request(`${base}/v1/tasks/${taskId}`, { headers: { "x-request-id": id } }, s.apiKey),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(ids.map(() => 200));
    expect(answers.map((r) => r.headers.get("x-request-id"))).toEqual(ids);
    expect(new Set(answers.map((r) => r.json.id))).toEqual(new Set([taskId]));
  });

  it("shrugs off a client that is gone before its answer is written", async () => {
    const fast = createPollFastPath({
      store: s.store,
      gate,
      signLink: (k) => k,
    });
    let takenThenGone = 0;
    // Answers wait for the end of the turn, as in the real server (the edge's response class).
    const batched = new TurnBatch((err) => {
      throw err;
    }).responseClass();
    const srv = createServer({ ServerResponse: batched }, (req, res) => {
      const fallback = () => res.writeHead(FALLBACK).end();
      if (!fast(req, res, fallback)) return fallback();
      // Taken: the answer now waits for the end of the turn. The client leaves first.
      if (req.headers["x-leave"]) {
        takenThenGone++;
        req.socket.destroy();
      }
    });
    await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/tasks/${taskId}`;
      const left = await request(url, { headers: { "x-leave": "1" } }, s.apiKey).catch(
        (e: Error) => e,
      );
      expect(left).toBeInstanceOf(Error);
      expect(takenThenGone).toBe(1);
      const r = await request(url, {}, s.apiKey);
      expect(r.status).toBe(200);
      expect(r.json.id).toBe(taskId);
    } finally {
      await new Promise((ok) => srv.close(ok));
    }
  });

  it.each([
    ["another account's task", `/v1/tasks/TASK`, OTHER_KEY, {}],
    ["an unknown task", `/v1/tasks/task-unified-1-zzzzzzzz`, "MAIN", {}],
    ["a query string", `/v1/tasks/TASK?x=1`, "MAIN", {}],
    ["a malformed id", `/v1/tasks/nope`, "MAIN", {}],
    ["a deeper path", `/v1/tasks/TASK/cancel`, "MAIN", {}],
    ["no key", `/v1/tasks/TASK`, null, {}],
    ["a key not in the cache", `/v1/tasks/TASK`, `sk-${"u".repeat(40)}`, {}],
    ["a POST", `/v1/tasks/TASK`, "MAIN", { method: "POST", rawBody: "{}" }],
  ])("falls through for %s", async (_what, path, key, init) => {
    const r = await request(
      base + path.replace("TASK", taskId),
      { key: key === "MAIN" ? s.apiKey : key, ...init },
      undefined,
    );
    expect(r.status).toBe(FALLBACK);
  });

  it("falls through for a key with an rpm limit or a revoked key; serves a cached good key from a throttled address", async () => {
    const principal = gate.cache.peek(hashApiKey(s.apiKey), Date.now())!;
    const saved = { ...principal };
    try {
      principal.rpmLimit = 1000;
      expect((await request(`${base}/v1/tasks/${taskId}`, {}, s.apiKey)).status).toBe(FALLBACK);
      principal.rpmLimit = null;
      principal.revoked = true;
      expect((await request(`${base}/v1/tasks/${taskId}`, {}, s.apiKey)).status).toBe(FALLBACK);
      principal.revoked = false;
      const now = Date.now();
      for (let i = 0; i < 25; i++) gate.failures.count("127.0.0.1", now);
      // A key the cache vouches for costs no lookup: throttling is for unknown keys.
      expect((await request(`${base}/v1/tasks/${taskId}`, {}, s.apiKey)).status).toBe(200);
    } finally {
      Object.assign(principal, saved);
    }
  });
});

describe("poll fast path: the real server with the key cache on", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_AUTH_CACHE_MS: "60000" });
  });
  afterAll(() => s.stop());

  it("answers the same JSON on the first (framework) and later (fast) polls, through to completion", async () => {
    const sub = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "same answer",
        n: 2,
        size: "1:1",
        quality: "1K",
      },
    });
    expect(sub.status).toBe(200);
    const first = await s.api(`/v1/tasks/${sub.json.id}`);
    const second = await s.api(`/v1/tasks/${sub.json.id}`);
    expect(second.status).toBe(200);
    expect(Object.keys(second.json).sort()).toEqual(Object.keys(first.json).sort());
    expect(second.json.usage).toEqual(first.json.usage);
    let done = second.json;
    for (let i = 0; i < 400 && done.status !== "completed"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      done = (await s.api(`/v1/tasks/${sub.json.id}`)).json;
    }
    expect(done.status).toBe("completed");
    expect(done.progress).toBe(100);
    expect(done.results).toHaveLength(2);
    const img = await fetch(done.results[0]);
    expect(img.status).toBe(200);
    expect(img.headers.get("content-type")).toBe("image/jpeg");
  });

  it("stops serving a revoked key at once on this process", async () => {
    const admin = (p: string, init: Parameters<typeof request>[1] = {}) =>
      request(`${s.url}/admin/v1${p}`, init, TEST_ADMIN_TOKEN);
    const account = (await admin("/accounts")).json.data[0].id as string;
    const created = await admin(`/accounts/${account}/keys`, { body: { name: "poller" } });
    expect(created.status).toBe(200);
    const key = created.json.key as string;
    const sub = await s.api("/v1/images/generations", {
      key,
      body: { model: "doubao-seedream-4.0", prompt: "revoke me" },
    });
    // Twice: the first poll warms the cache, the second is served by the fast path.
    expect((await s.api(`/v1/tasks/${sub.json.id}`, { key })).status).toBe(200);
    expect((await s.api(`/v1/tasks/${sub.json.id}`, { key })).status).toBe(200);
    expect((await admin(`/keys/${created.json.id}/revoke`, { method: "POST" })).status).toBe(200);
    const after = await s.api(`/v1/tasks/${sub.json.id}`, { key });
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe("unauthorized");
  });
});
