/**
 * The one request pipeline (src/http/edge/edge.ts): every request, whichever handler
 * answers it, goes through the same steps. This file lists the paths a request can take
 * and the steps, and checks every step on every path. A step added to EDGE_STEPS
 * without a probe here fails the first test; a path that skipped a step fails its probe.
 */
import { request as httpRequest, Agent } from "node:http";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EDGE_STEPS, type EdgeRequest, type RequestOutcome } from "../../src/http/edge/edge.js";
import type { Darkroom } from "../../src/server/darkroom.js";
import {
  TEST_ADMIN_TOKEN,
  TEST_API_KEY,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

interface Path {
  name: string;
  method: string;
  url: () => string;
  body?: string;
  key?: string | null;
  headers?: Record<string, string>;
  status: number;
  /** Which handler must have answered (proves the path is the one named). */
  handler: string | null;
}

let s: TestServer;
let dr: Darkroom;
let taskId = "";
let resultLink = "";
const logLines: Array<Record<string, unknown>> = [];
const seen = new Map<
  string,
  { request?: EdgeRequest; outcome?: RequestOutcome; responseClass?: string }
>();

const PATHS: Path[] = [
  {
    name: "poll, fast path (cached key)",
    method: "GET",
    url: () => `/v1/tasks/${taskId}`,
    status: 200,
    handler: "poll-fast-path",
  },
  {
    name: "poll, framework (unknown task)",
    method: "GET",
    url: () => "/v1/tasks/task-unified-1757165031-zzzzzzzz",
    status: 404,
    handler: "framework",
  },
  {
    name: "submission, fast path (cached key)",
    method: "POST",
    url: () => "/v1/images/generations",
    body: JSON.stringify({ model: "doubao-seedream-4.0", prompt: "pipeline" }),
    status: 200,
    handler: "submit-fast-path",
  },
  {
    name: "submission with malformed JSON, fast path",
    method: "POST",
    url: () => "/v1/images/generations",
    body: '{"model": ',
    status: 400,
    handler: "submit-fast-path",
  },
  {
    name: "submission, framework (Idempotency-Key)",
    method: "POST",
    url: () => "/v1/images/generations",
    body: JSON.stringify({ model: "doubao-seedream-4.0", prompt: "pipeline, once" }),
    headers: { "idempotency-key": "pipeline-1" },
    status: 200,
    handler: "framework",
  },
  {
    name: "list",
    method: "GET",
    url: () => "/v1/tasks?status=completed",
    status: 200,
    handler: "framework",
  },
  {
    name: "credits without a key",
    method: "GET",
    url: () => "/v1/credits",
    key: null,
    status: 401,
    handler: "framework",
  },
  {
    name: "unknown route",
    method: "GET",
    url: () => "/v1/nope",
    status: 404,
    handler: "framework",
  },
  {
    name: "wrong method",
    method: "DELETE",
    url: () => "/v1/images/generations",
    status: 405,
    handler: "framework",
  },
  {
    name: "admin",
    method: "GET",
    url: () => "/admin/v1/status",
    key: TEST_ADMIN_TOKEN,
    status: 200,
    handler: "framework",
  },
  {
    name: "signed result link",
    method: "GET",
    url: () => resultLink,
    key: null,
    status: 200,
    handler: "framework",
  },
];

const agent = new Agent({ keepAlive: true });

function send(
  p: Path,
  requestId: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const key = p.key === undefined ? TEST_API_KEY : p.key;
  const u = new URL(dr.url + p.url());
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        host: u.hostname,
        port: u.port,
        method: p.method,
        path: u.pathname + u.search,
        headers: {
          "x-request-id": requestId,
          ...p.headers,
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(p.body !== undefined
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(p.body) }
            : {}),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(p.body);
  });
}

/** What each step must have done to a request that went through it (it ran on `id`). */
const PROBES: Record<(typeof EDGE_STEPS)[number], (p: Path, id: string) => Promise<void> | void> = {
  // At accept, before any byte is parsed: no path can skip it. Its own test is
  // test/e2e/edge-limits.test.ts; here, the connection this request came on was counted.
  "connection-limits": () => {
    expect(dr.edge.connections.openConnections).toBeGreaterThan(0);
  },
  "request-id": (_p, id) => {
    expect(seen.get(id)?.request?.id).toBe(id);
    expect(logLines.some((l) => l.reqId === id)).toBe(true);
  },
  // Checked for every path at once, below: the edge stops taking requests at close.
  shutdown: () => {},
  deadline: () => {},
  "access-log": (p, id) => {
    const line = logLines.find((l) => l.reqId === id && l.msg === "request");
    expect(line, `${p.name}: access log line`).toBeDefined();
    expect(line).toMatchObject({ method: p.method, status: p.status, handler: p.handler });
    expect(String(line!.url)).not.toMatch(/sig=[^[]/);
  },
  // Whoever answers, the response is the edge's kind, whose end() waits for the turn's end.
  "turn-batching": (p, id) => {
    expect(seen.get(id)?.responseClass, p.name).toBe("TurnBatchedResponse");
  },
  hooks: (p, id) => {
    const s = seen.get(id);
    expect(s?.request, `${p.name}: onRequest`).toBeDefined();
    expect(s?.outcome, `${p.name}: onResponse`).toMatchObject({ status: p.status, aborted: false });
    expect(s?.request?.handler, `${p.name}: answered by`).toBe(p.handler);
  },
};

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  s = await startTestServer(
    {
      DARKROOM_SANDBOX_DURATION_MS: "20",
      DARKROOM_ACCESS_LOG: "true",
      DARKROOM_REQUEST_TIMEOUT_MS: "1000",
      LOG_LEVEL: "info",
    },
    {
      logTo: sink,
      edgeHooks: [
        {
          onRequest: (r, _req, res) =>
            void seen.set(r.id, { request: r, responseClass: res.constructor.name }),
          onResponse: (r, outcome) =>
            void seen.set(r.id, { ...seen.get(r.id), request: r, outcome }),
        },
      ],
    },
  );
  dr = s.dr;
  const submitted = await fetch(`${dr.url}/v1/images/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "doubao-seedream-4.0", prompt: "a link to sign", size: "1K" }),
  });
  taskId = ((await submitted.json()) as { id: string }).id;
  const { final } = await waitForTask(s, taskId);
  resultLink = new URL(final.results[0] as string).pathname + new URL(final.results[0]).search;
});

afterAll(async () => {
  agent.destroy();
  await s?.stop();
});

describe("the request pipeline", () => {
  it("has a probe for every step the edge runs", () => {
    expect(Object.keys(PROBES).sort()).toEqual([...EDGE_STEPS].sort());
  });

  for (const p of PATHS) {
    it(`${p.name}: goes through every step`, async () => {
      const id = `pipe-${p.name.replace(/[^a-z]+/g, "-")}`;
      const r = await send(p, id);
      expect(r.status, r.text).toBe(p.status);
      expect(r.headers["x-request-id"]).toBe(id);
      if (r.status >= 400) {
        expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
        expect(Object.keys(JSON.parse(r.text))).toEqual(["error"]);
      }
      // The outcome is reported once the response is closed, just after the client read it.
      await expect.poll(() => seen.get(id)?.outcome).toBeDefined();
      for (const step of EDGE_STEPS) await PROBES[step](p, id);
    });
  }

  it("deadline: a body that does not arrive is cut with 408 JSON on every path that waits for it", async () => {
    const withBody = PATHS.map((p) => ({ ...p, body: p.body ?? "{}" }));
    const answers = await Promise.all(
      withBody.map(
        (p) =>
          new Promise<{ name: string; status: number; text: string; closed: boolean }>(
            (resolve) => {
              const u = new URL(dr.url + p.url());
              const key = p.key === undefined ? TEST_API_KEY : p.key;
              let status = 0;
              let text = "";
              const req = httpRequest({
                host: u.hostname,
                port: u.port,
                method: p.method,
                path: u.pathname + u.search,
                headers: {
                  "content-type": "application/json",
                  // Promise more than is ever sent.
                  "content-length": p.body.length + 100,
                  ...(key ? { authorization: `Bearer ${key}` } : {}),
                },
              });
              req.on("response", (res) => {
                status = res.statusCode ?? 0;
                res.setEncoding("utf8");
                res.on("data", (c: string) => (text += c));
              });
              req.on("error", () => {});
              req.on("close", () => resolve({ name: p.name, status, text, closed: true }));
              req.write(p.body);
            },
          ),
      ),
    );
    for (const a of answers) {
      expect(a.closed, a.name).toBe(true);
      // A handler that waits for the body gets none: the edge answers 408. One that
      // answers without reading it (a 401, a 404, the poll) has answered; then the
      // trickle is cut all the same.
      expect([408, 401, 404, 405, 200], `${a.name}: ${a.status}`).toContain(a.status);
      if (a.status === 408) {
        expect(JSON.parse(a.text).error).toMatchObject({ type: "invalid_request_error" });
      }
    }
    for (const a of answers.filter((a) => a.name.startsWith("submission"))) {
      expect(a.status, a.name).toBe(408);
    }
    expect(answers.find((a) => a.name === "admin")?.status).toBe(200);
  });

  it("shutdown: once closing, every path is refused with 503 JSON and Connection: close", async () => {
    dr.edge.close();
    for (const p of PATHS) {
      const r = await send(p, `closing-${p.name.replace(/[^a-z]+/g, "-")}`);
      expect(r.status, p.name).toBe(503);
      expect(r.headers.connection, p.name).toBe("close");
      expect(JSON.parse(r.text).error, p.name).toMatchObject({ code: "service_unavailable" });
    }
  });
});
