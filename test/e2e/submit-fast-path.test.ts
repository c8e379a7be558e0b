/**
 * The submission fast path (src/http/fast-paths/submit.ts) either declines at the
 * headers or answers every outcome itself. These tests send the same bodies down both
 * paths — the fast path (declared length, cached key) and the framework (the same body
 * chunked, which the fast path declines) — and require the same answers, and check
 * which requests the fast path takes.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeRequest } from "../../src/http/edge/edge.js";
import {
  addAccount,
  countTasks,
  defaultAccountId,
  startTestServer,
  type TestServer,
} from "../helpers/server.js";

const POOR_KEY = "sk-poor0000000000000000000000000000000000fast";
const LIMITED_KEY = "sk-limited000000000000000000000000000000fast";
const handlers = new Map<string, string | null>();
let s: TestServer;
let port = 0;
const accounts: string[] = [];
/** Tasks on every account of this file. */
const allTasks = async () =>
  (await Promise.all(accounts.map((a) => countTasks(s.store, a)))).reduce((x, y) => x + y, 0);

beforeAll(async () => {
  s = await startTestServer(
    { DARKROOM_RUNNER: "false" },
    { edgeHooks: [{ onResponse: (r: EdgeRequest) => void handlers.set(r.id, r.handler) }] },
  );
  port = Number(new URL(s.url).port);
  accounts.push(await defaultAccountId(s));
  accounts.push(await addAccount(s.admin, { name: "poor", key: POOR_KEY, credits: 0.5 }));
  accounts.push(
    await addAccount(s.admin, {
      name: "limited",
      key: LIMITED_KEY,
      credits: 10,
      allowedModels: ["doubao-seedream-4.5"],
    }),
  );
  // Warm the key cache: a key the cache does not vouch for is the framework's.
  for (const key of [s.apiKey, POOR_KEY, LIMITED_KEY]) {
    await s.api("/v1/tasks/task-unified-1-zzzzzzzz", { key });
  }
});
afterAll(() => s.stop());

interface Answer {
  status: number;
  contentType: string | undefined;
  json: Record<string, unknown>;
  handler: string | null | undefined;
}

/** POSTs `body` with a declared length, or `chunked` (which only the framework takes). */
function submit(
  body: string,
  opts: { key?: string; chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const id = `sub-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/images/generations",
        headers: {
          "x-request-id": id,
          authorization: `Bearer ${opts.key ?? s.apiKey}`,
          "content-type": "application/json",
          ...(opts.chunked
            ? { "transfer-encoding": "chunked" }
            : { "content-length": Buffer.byteLength(body) }),
          ...opts.headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () =>
          // The edge reports the outcome once the response is closed.
          setImmediate(() =>
            resolve({
              status: res.statusCode ?? 0,
              contentType: res.headers["content-type"],
              json: JSON.parse(text) as Record<string, unknown>,
              handler: handlers.get(id),
            }),
          ),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** What must match between the two paths: everything but a new task's own id and time. */
function comparable(a: Answer) {
  const { id: _id, created: _created, ...rest } = a.json;
  return { status: a.status, contentType: a.contentType, json: rest };
}

const PLAIN = JSON.stringify({ model: "doubao-seedream-4.0", prompt: "a quiet harbour" });

describe("the submission fast path", () => {
  it.each<[string, string, string?]>([
    ["a plain submission", PLAIN],
    ["malformed JSON", '{"model": "doubao'],
    ["JSON with a __proto__ key", '{"model":"doubao-seedream-4.0","prompt":"x","__proto__":{}}'],
    ["a JSON array", "[]"],
    ["an invalid field", JSON.stringify({ model: "doubao-seedream-4.0", prompt: "x", n: 0 })],
    ["an unknown model", JSON.stringify({ model: "dall-e-9", prompt: "x" })],
    ["a model outside the key's allow-list", PLAIN, LIMITED_KEY],
    ["a balance that cannot cover it", PLAIN, POOR_KEY],
  ])("answers %s as the framework does", async (_what, body, key) => {
    const before = await allTasks();
    const fast = await submit(body, { key });
    const framework = await submit(body, { key, chunked: true });
    expect(fast.handler).toBe("submit-fast-path");
    expect(framework.handler).toBe("framework");
    expect(comparable(fast)).toEqual(comparable(framework));
    // Two tasks for a good submission, none for anything refused.
    expect(await allTasks()).toBe(before + (fast.status === 200 ? 2 : 0));
  });

  it.each<[string, { key?: string; headers?: Record<string, string> }]>([
    ["an Idempotency-Key", { headers: { "idempotency-key": "k-1" } }],
    ["another charset", { headers: { "content-type": "application/json; charset=latin1" } }],
    ["a key not in the cache", { key: `sk-${"u".repeat(40)}` }],
  ])("leaves a request with %s to the framework, untouched", async (_what, opts) => {
    const r = await submit(PLAIN, opts);
    expect(r.handler).toBe("framework");
  });
});
