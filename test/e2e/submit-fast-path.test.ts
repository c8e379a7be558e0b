/**
 * The submission fast path (src/http/fast-paths/submit.ts) answers plain submissions
 * that reach the store. These tests pin which requests it takes, what it answers, what
 * it hands to Fastify and how: a raw server whose fallback answers 599 and echoes the body Fastify
 * would parse (through the route's own preParsing hook), so a test can see whether the
 * request was declined untouched or handed over with its body, byte for byte.
 * That the real server answers alike on both paths is submit.test.ts's and
 * concurrency.test.ts's job: they run every case with the key cache off and on.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ModelCatalogue } from "../../src/core/models.js";
import { replayHandedOverBody } from "../../src/http/fast-paths/body-handover.js";
import { createSubmitFastPath } from "../../src/http/fast-paths/submit.js";
import { ResponseBatch } from "../../src/http/fast-paths/response-batch.js";
import { AuthGate, KeyCache, hashApiKey } from "../../src/http/plugins/auth.js";
import type { Store, SubmitInput } from "../../src/store/store.js";
import {
  addAccount,
  countTasks,
  defaultAccountId,
  startTestServer,
  type TestServer,
} from "../helpers/server.js";

const FALLBACK = 599;
const BODY_LIMIT = 4096;
const POOR_KEY = "sk-poor0000000000000000000000000000000000fast";
const LIMITED_MODELS_KEY = "sk-models000000000000000000000000000000000fast";
const RPM_KEY = "sk-rpm00000000000000000000000000000000000fast";
const LIMIT_KEY = "sk-limit000000000000000000000000000000000fast";
const BUSY_KEY = "sk-busy0000000000000000000000000000000000fast";
const PLAIN = JSON.stringify({ model: "doubao-seedream-4.0", prompt: "a lake at dusk" });

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  text: string;
}

function readAll(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer | string) => chunks.push(Buffer.from(c)));
    stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    stream.on("error", reject);
  });
}

describe("submission fast path", () => {
  let s: TestServer;
  let raw: Server;
  let port: number;
  let fast: ReturnType<typeof createSubmitFastPath>;
  let failStore: boolean;
  let available: boolean;
  const submitted: Array<[string, string]> = [];
  const logged: Array<{ obj: { reqId?: string; err?: unknown }; msg?: string }> = [];

  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false" });
    await addAccount(s.admin, { name: "poor", key: POOR_KEY, credits: 1 });
    await addAccount(s.admin, {
      name: "models",
      key: LIMITED_MODELS_KEY,
      credits: 10,
      allowedModels: ["doubao-seedream-4.5"],
    });
    await addAccount(s.admin, {
      name: "rpm",
      key: RPM_KEY,
      credits: 10,
      keySettings: { rpmLimit: 100 },
    });
    await addAccount(s.admin, { name: "limit", key: LIMIT_KEY, credits: 10, creditLimit: 1 });
    await addAccount(s.admin, {
      name: "busy",
      key: BUSY_KEY,
      credits: 10,
      keySettings: { maxConcurrent: 0 },
    });
    const gate = new AuthGate(new KeyCache(s.store, 60_000));
    for (const key of [s.apiKey, POOR_KEY, LIMITED_MODELS_KEY, RPM_KEY, LIMIT_KEY, BUSY_KEY])
      expect(await gate.cache.lookup(hashApiKey(key), Date.now())).not.toBeNull();
    const store = {
      submitTask: (input: SubmitInput) =>
        failStore ? Promise.reject(new Error("disk on fire")) : s.store.submitTask(input),
    } as unknown as Store;
    fast = createSubmitFastPath({
      store,
      gate,
      signLink: (k) => `signed:${k}`,
      onSubmitted: (id, model) => submitted.push([id, model]),
      bodyLimitBytes: BODY_LIMIT,
      log: { error: (obj: object, msg?: string) => logged.push({ obj, msg }) },
      catalogue: new ModelCatalogue(s.dr.config.models),
      channels: { availability: () => (available ? "available" : "unavailable") },
      estimator: { estimate: () => 45 },
      answers: new ResponseBatch((err) => {
        throw err;
      }),
    } as Parameters<typeof createSubmitFastPath>[0]);
    raw = createServer((req, res) => {
      // What Fastify would do with the request: run the route's preParsing hook, read
      // the payload it returns. Echoed back, with whether it was a handed-over body.
      const fallback = () => {
        replayHandedOverBody.call(
          {} as FastifyInstance,
          { raw: req } as FastifyRequest,
          {} as FastifyReply,
          req as unknown as RequestPayload,
          (_err, payload) => {
            void readAll(payload as Readable).then((text) =>
              res.writeHead(FALLBACK, { "x-handed-over": String(payload !== req) }).end(text),
            );
          },
        );
      };
      if (!fast(req, res, fallback)) fallback();
    });
    await new Promise<void>((ok) => raw.listen(0, "127.0.0.1", ok));
    port = (raw.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((ok) => raw.close(ok));
    await s.stop();
  });
  beforeEach(() => {
    failStore = false;
    available = true;
    submitted.length = 0;
    logged.length = 0;
  });

  /** One request with full control of its headers and of how the body is cut into writes. */
  function send(opts: {
    method?: string;
    path?: string;
    key?: string | null;
    headers?: Record<string, string | number>;
    body?: string | Buffer | Buffer[];
    chunked?: boolean;
  }): Promise<Answer> {
    const parts =
      opts.body === undefined
        ? []
        : Array.isArray(opts.body)
          ? opts.body
          : [Buffer.from(opts.body)];
    const length = parts.reduce((n, p) => n + p.length, 0);
    const key = opts.key === undefined ? s.apiKey : opts.key;
    const headers: Record<string, string | number> = {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(opts.chunked ? {} : { "content-length": length }),
      ...opts.headers,
    };
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: opts.method ?? "POST",
          path: opts.path ?? "/v1/images/generations",
          headers,
        },
        (res) => {
          void readAll(res).then(
            (text) => resolve({ status: res.statusCode!, headers: res.headers, text }),
            reject,
          );
        },
      );
      req.on("error", reject);
      // Each part its own write, a tick apart, so the server reads them as separate chunks.
      const writeFrom = (i: number) => {
        if (i === parts.length) return void req.end();
        req.write(parts[i]);
        setTimeout(() => writeFrom(i + 1), 5);
      };
      writeFrom(0);
    });
  }

  async function taskCount(): Promise<number> {
    return countTasks(s.store, await defaultAccountId(s));
  }

  it("answers a plain submission from a cached key: 200, the task, stored, and the runner told", async () => {
    const before = await taskCount();
    const r = await send({ body: PLAIN, headers: { "x-request-id": "sub-7" } });
    expect(r.status, r.text).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.headers["content-length"]).toBe(String(Buffer.byteLength(r.text)));
    expect(r.headers["x-request-id"]).toBe("sub-7");
    const task = JSON.parse(r.text);
    expect(task).toMatchObject({
      model: "doubao-seedream-4.0",
      object: "image.generation.task",
      status: "pending",
      progress: 0,
      usage: { billing_rule: "per_call", credits_reserved: 1.8, user_group: "default" },
    });
    expect(await taskCount()).toBe(before + 1);
    expect(submitted).toEqual([[task.id, "doubao-seedream-4.0"]]);
    const stored = await s.store.getTask(await defaultAccountId(s), task.id);
    expect(stored?.status).toBe("pending");
  });

  it("takes a body whose UTF-8 arrives split across reads, and stores the prompt whole", async () => {
    const body = Buffer.from(JSON.stringify({ model: "doubao-seedream-4.0", prompt: "🌅 über" }));
    const cut = body.indexOf(Buffer.from("🌅")) + 2; // inside the emoji's four bytes
    const r = await send({ body: [body.subarray(0, cut), body.subarray(cut)] });
    expect(r.status, r.text).toBe(200);
    const stored = await s.admin.findTask(JSON.parse(r.text).id);
    expect(stored?.request.prompt).toBe("🌅 über");
  });

  it("parses with Fastify's parser: a BOM before the JSON is taken, as Fastify takes it", async () => {
    const r = await send({ body: `\ufeff${PLAIN}` });
    expect(r.status, r.text).toBe(200);
  });

  it.each<[string, Parameters<typeof send>[0]]>([
    ["a GET", { method: "GET", body: undefined }],
    ["another path", { path: "/v1/images/generations/x", body: PLAIN }],
    ["a query string", { path: "/v1/images/generations?debug=1", body: PLAIN }],
    ["an Idempotency-Key", { headers: { "idempotency-key": "k-1" }, body: PLAIN }],
    ["a text/plain body", { headers: { "content-type": "text/plain" }, body: PLAIN }],
    [
      "another charset",
      { headers: { "content-type": "application/json; charset=latin1" }, body: PLAIN },
    ],
    ["no Content-Type", { headers: { "content-type": "" }, body: PLAIN }],
    ["a chunked body (no Content-Length)", { chunked: true, body: PLAIN }],
    ["an empty body", { body: "" }],
    ["a body over the limit", { body: JSON.stringify({ prompt: "x".repeat(BODY_LIMIT) }) }],
    ["no key", { key: null, body: PLAIN }],
    ["a key not in the cache", { key: `sk-${"u".repeat(40)}`, body: PLAIN }],
    ["a key with an rpm limit (admitting it counts)", { key: RPM_KEY, body: PLAIN }],
  ])("declines %s at the headers: Fastify gets the request untouched", async (_what, opts) => {
    const before = await taskCount();
    const r = await send(opts);
    expect(r.status).toBe(FALLBACK);
    expect(r.headers["x-handed-over"]).toBe("false");
    const sent = opts.body === undefined ? "" : String(opts.body);
    expect(r.text).toBe(sent);
    expect(await taskCount()).toBe(before);
    expect(submitted).toEqual([]);
  });

  it.each<[string, string, string?]>([
    ["malformed JSON", '{"model": "doubao'],
    ["JSON with a __proto__ key", '{"model":"doubao-seedream-4.0","prompt":"x","__proto__":{}}'],
    ["a JSON array", "[]"],
    ["an invalid field", JSON.stringify({ model: "doubao-seedream-4.0", prompt: "x", n: 0 })],
    ["an unknown model", JSON.stringify({ model: "dall-e-9", prompt: "x" })],
    ["a model outside the key's allow-list", PLAIN, LIMITED_MODELS_KEY],
  ])("hands %s over to Fastify with the body, byte for byte", async (_what, body, key) => {
    const before = await taskCount();
    const r = await send({ body, key });
    expect(r.status).toBe(FALLBACK);
    expect(r.headers["x-handed-over"]).toBe("true");
    expect(r.text).toBe(body);
    expect(await taskCount()).toBe(before);
    expect(submitted).toEqual([]);
  });

  it.each<[string, string, number, string, Record<string, string>]>([
    ["a balance that cannot cover it", POOR_KEY, 402, "insufficient_quota", {}],
    ["a key's credit limit", LIMIT_KEY, 402, "insufficient_quota", {}],
    ["a key's tasks in progress", BUSY_KEY, 429, "rate_limit_exceeded", { "retry-after": "5" }],
  ])(
    "answers the store's refusal for %s itself, as the route does: one trip to the writer",
    async (_what, key, status, code, headers) => {
      const before = await taskCount();
      const r = await send({ body: PLAIN, key, headers: { "x-request-id": "no-7" } });
      expect(r.status, r.text).toBe(status);
      expect(r.headers["x-handed-over"]).toBeUndefined();
      expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(r.headers["x-request-id"]).toBe("no-7");
      expect(r.headers).toMatchObject(headers);
      expect(JSON.parse(r.text).error).toMatchObject({ code, type: expect.any(String) });
      expect(await taskCount()).toBe(before);
      expect(submitted).toEqual([]);
    },
  );

  it("hands a model with no available upstream over to Fastify", async () => {
    available = false;
    const r = await send({ body: PLAIN });
    expect(r.status).toBe(FALLBACK);
    expect(r.headers["x-handed-over"]).toBe("true");
  });

  it("answers a store failure itself, 500 and logged: never handed over, so never submitted twice", async () => {
    failStore = true;
    const r = await send({ body: PLAIN, headers: { "x-request-id": "boom-1" } });
    expect(r.status).toBe(500);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.headers["x-request-id"]).toBe("boom-1");
    expect(JSON.parse(r.text)).toEqual({
      error: {
        code: "internal_error",
        message: expect.any(String),
        type: expect.any(String),
      },
    });
    expect(r.text).not.toContain("disk on fire");
    expect(logged).toHaveLength(1);
    expect(logged[0]!.obj.reqId).toBe("boom-1");
    expect(String(logged[0]!.obj.err)).toContain("disk on fire");
    expect(submitted).toEqual([]);
  });

  it("drops a request whose client goes away mid-body: nothing submitted, and it serves on", async () => {
    const before = await taskCount();
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/images/generations",
        headers: {
          "content-type": "application/json",
          "content-length": 200,
          authorization: `Bearer ${s.apiKey}`,
        },
      });
      req.on("error", () => resolve());
      req.write(PLAIN.slice(0, 10));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 20);
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(await taskCount()).toBe(before);
    expect((await send({ body: PLAIN })).status).toBe(200);
  });

  it("declines everything once closing", async () => {
    fast.close();
    const r = await send({ body: PLAIN });
    expect(r.status).toBe(FALLBACK);
    expect(r.headers["x-handed-over"]).toBe("false");
  });
});
