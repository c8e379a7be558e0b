/**
 * POST /v1/images/generations against the real server: the success shape and every
 * row of the contract's error table that this build serves. All of it twice: through
 * Fastify alone (no key cache), and with the key cache on, where plain submissions are
 * served by the fast path (src/http/fast-paths/submit.ts) and everything else is handed
 * to Fastify with its body already read; the answers must not differ.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addAccount,
  countTasks,
  ledgerInvariants,
  startTestServer,
  type TestServer,
  warmKeyCache,
} from "../helpers/server.js";

describe.each([
  ["through the framework (key cache off)", "0"],
  ["with the submission fast path (key cache on)", "60000"],
])("%s", (_path, authCacheMs) => {
  let s: TestServer;
  const OTHER_KEY = "sk-other000000000000000000000000000000000x";
  const LIMITED_KEY = "sk-limited0000000000000000000000000000000y";
  const POOR_KEY = "sk-poor00000000000000000000000000000000000z";

  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_AUTH_CACHE_MS: authCacheMs });
    await addAccount(s.admin, {
      name: "other",
      key: OTHER_KEY,
      credits: 50,
      allowedModels: ["doubao-seedream-4.5"],
    });
    await addAccount(s.admin, { name: "limited", key: LIMITED_KEY, credits: 100, creditLimit: 2 });
    await addAccount(s.admin, { name: "poor", key: POOR_KEY, credits: 1 });
    // With the cache on, a key's first request warms it: after that, plain submissions
    // are served by the fast path.
    for (const key of [s.apiKey, OTHER_KEY, LIMITED_KEY, POOR_KEY]) await warmKeyCache(s, key);
  });
  /** How many tasks an account has: a refusal must not have created one. */
  const tasksOf = (accountId: string): Promise<number> => countTasks(s.store, accountId);

  afterAll(async () => {
    await ledgerInvariants(s.admin);
    await s.stop();
  });

  const base = {
    model: "doubao-seedream-4.0",
    prompt: "A serene lake reflecting the beautiful sunset scenery",
  };

  describe("submission succeeds", () => {
    it("answers 200 with the task, exactly the contract's fields", async () => {
      const before = Math.floor(Date.now() / 1000);
      const r = await s.api("/v1/images/generations", { body: base });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      const t = r.json;
      expect(Object.keys(t).sort()).toEqual(
        [
          "created",
          "id",
          "model",
          "object",
          "progress",
          "status",
          "task_info",
          "type",
          "usage",
        ].sort(),
      );
      expect(t.id).toMatch(new RegExp(`^task-unified-\\d+-[a-z0-9]{8}$`));
      expect(Number(t.id.split("-")[2])).toBe(t.created);
      expect(t.created).toBeGreaterThanOrEqual(before);
      expect(t).toMatchObject({
        model: "doubao-seedream-4.0",
        object: "image.generation.task",
        progress: 0,
        status: "pending",
        type: "image",
        task_info: { can_cancel: true, estimated_time: 45 },
        usage: { billing_rule: "per_call", credits_reserved: 1.8, user_group: "default" },
      });
    });

    it("reserves price × n and shows it in credits_reserved", async () => {
      const r = await s.api("/v1/images/generations", { body: { ...base, n: 3 } });
      expect(r.status).toBe(200);
      expect(r.json.usage.credits_reserved).toBe(5.4);
    });

    it("counts the prompt in code points and takes tabs and line breaks", async () => {
      const emoji = await s.api("/v1/images/generations", {
        body: { ...base, prompt: "🌅".repeat(2000) },
      });
      expect(emoji.status, emoji.text).toBe(200);
      const lines = await s.api("/v1/images/generations", {
        body: { ...base, prompt: "a lake\n\tat dusk\r\n" },
      });
      expect(lines.status, lines.text).toBe(200);
    });

    it("treats null as absent for every optional field", async () => {
      const r = await s.api("/v1/images/generations", {
        body: {
          ...base,
          n: null,
          size: null,
          quality: null,
          prompt_priority: null,
          image_urls: null,
          callback_url: null,
          model_params: null,
        },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json.usage.credits_reserved).toBe(1.8);
    });

    it("ignores unknown fields", async () => {
      const r = await s.api("/v1/images/generations", {
        body: { ...base, foo: 1, bar: { x: [1] } },
      });
      expect(r.status).toBe(200);
    });

    it("accepts every documented size form", async () => {
      for (const size of [
        "auto",
        "1:1",
        "21:9",
        "9:21",
        "1K",
        "2K",
        "4K",
        "1280x720",
        "4096x4096",
        "1024x900",
      ]) {
        const r = await s.api("/v1/images/generations", { body: { ...base, size, quality: "1K" } });
        expect(r.status, `size ${size}: ${r.text}`).toBe(200);
      }
    });

    it("gives ids that are unique and unguessable", async () => {
      const ids = await Promise.all(
        Array.from({ length: 20 }, () =>
          s.api("/v1/images/generations", { body: base }).then((r) => r.json.id),
        ),
      );
      expect(new Set(ids).size).toBe(20);
    });
  });

  describe("submission is refused", () => {
    const cases: Array<[string, unknown, string | undefined]> = [
      ["missing model", { prompt: "x" }, "model"],
      ["model not a string", { model: 4, prompt: "x" }, "model"],
      ["missing prompt", { model: base.model }, "prompt"],
      ["empty prompt", { ...base, prompt: "" }, "prompt"],
      ["blank prompt", { ...base, prompt: "   " }, "prompt"],
      ["prompt not a string", { ...base, prompt: ["a"] }, "prompt"],
      ["prompt over 2000 chars", { ...base, prompt: "a".repeat(2001) }, "prompt"],
      ["prompt over 2000 code points", { ...base, prompt: "🌅".repeat(2001) }, "prompt"],
      ["prompt with a NUL", { ...base, prompt: "a\u0000b" }, "prompt"],
      ["prompt with DEL", { ...base, prompt: "a\u007fb" }, "prompt"],
      ["prompt with a C1 control (NEL)", { ...base, prompt: "a\u0085b" }, "prompt"],
      ["prompt with a C1 control (APC)", { ...base, prompt: "a\u009fb" }, "prompt"],
      ["prompt with an escape character", { ...base, prompt: "a\u001bb" }, "prompt"],
      ["prompt with a lone surrogate", { ...base, prompt: "a\ud800b" }, "prompt"],
      ["null model", { ...base, model: null }, "model"],
      ["null prompt", { ...base, prompt: null }, "prompt"],
      ["n = 0", { ...base, n: 0 }, "n"],
      ["n = 16", { ...base, n: 16 }, "n"],
      ["n as a string", { ...base, n: "3" }, "n"],
      ["n fractional", { ...base, n: 2.5 }, "n"],
      ["size nonsense", { ...base, size: "big" }, "size"],
      ["size ratio unknown", { ...base, size: "7:3" }, "size"],
      ["size too few pixels", { ...base, size: "512x512" }, "size"],
      ["size too many pixels", { ...base, size: "4097x4096" }, "size"],
      ["size aspect over 16", { ...base, size: "8000x480" }, "size"],
      ["size not a string", { ...base, size: 1024 }, "size"],
      ["quality unknown", { ...base, quality: "8K" }, "quality"],
      ["quality 3K not on 4.0", { ...base, quality: "3K" }, "quality"],
      ["prompt_priority unknown", { ...base, prompt_priority: "slow" }, "prompt_priority"],
      [
        "image_urls not an array",
        { ...base, image_urls: "https://example.com/a.png" },
        "image_urls",
      ],
      [
        "image_urls 15 items",
        { ...base, image_urls: Array(15).fill("https://example.com/a.png") },
        "image_urls",
      ],
      ["image_urls not http", { ...base, image_urls: ["ftp://example.com/a.png"] }, "image_urls"],
      [
        "n + refs > 15",
        { ...base, n: 5, image_urls: Array(11).fill("https://example.com/a.png") },
        "n",
      ],
      ["callback_url http", { ...base, callback_url: "http://example.com/hook" }, "callback_url"],
      [
        "callback_url loopback",
        { ...base, callback_url: "https://127.0.0.1/hook" },
        "callback_url",
      ],
      ["callback_url private", { ...base, callback_url: "https://10.1.2.3/hook" }, "callback_url"],
      [
        "callback_url too long",
        { ...base, callback_url: `https://example.com/${"a".repeat(2048)}` },
        "callback_url",
      ],
    ];
    for (const [name, body, param] of cases) {
      it(`400 invalid_request for ${name}`, async () => {
        const r = await s.api("/v1/images/generations", { body });
        expect(r.status, r.text).toBe(400);
        expect(r.json.error).toMatchObject({
          code: "invalid_request",
          type: "invalid_request_error",
          param,
        });
        expect(typeof r.json.error.message).toBe("string");
      });
    }

    it("400 for a body that is not an object", async () => {
      for (const raw of ["[]", "42", '"x"', "null"]) {
        const r = await s.api("/v1/images/generations", {
          rawBody: raw,
          headers: { "content-type": "application/json" },
        });
        expect(r.status, raw).toBe(400);
        expect(r.json.error.code).toBe("invalid_request");
      }
    });

    it("400 for malformed JSON", async () => {
      const r = await s.api("/v1/images/generations", {
        rawBody: '{"model": "doubao',
        headers: { "content-type": "application/json" },
      });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({
        code: "invalid_request",
        type: "invalid_request_error",
      });
    });

    it("401 without a key, with a malformed key, with an unknown key", async () => {
      for (const key of [null, "nope", "sk-unknown00000000000000000000000000000000"]) {
        const r = await s.api("/v1/images/generations", { body: base, key });
        expect(r.status).toBe(401);
        expect(r.json.error).toMatchObject({ code: "unauthorized", type: "authentication_error" });
      }
    });

    it("401 for a revoked key and a disabled account", async () => {
      const key = "sk-revoked000000000000000000000000000000000";
      await addAccount(s.admin, { name: "revoked", key, credits: 10 });
      expect((await s.admin.revokeKey("key_revoked", Date.now())).ok).toBe(true);
      expect((await s.api("/v1/images/generations", { body: base, key })).status).toBe(401);
      const key2 = "sk-disabled00000000000000000000000000000000";
      await addAccount(s.admin, { name: "disabled", key: key2, credits: 10 });
      const disabled = await s.admin.updateAccount("acct_disabled", { disabled: true }, Date.now());
      expect(disabled.ok).toBe(true);
      expect((await s.api("/v1/images/generations", { body: base, key: key2 })).status).toBe(401);
    });

    it("402 insufficient_quota when the balance cannot cover n × price, and nothing changes", async () => {
      const before = await s.store.getBalance("acct_poor");
      const r = await s.api("/v1/images/generations", { body: base, key: POOR_KEY });
      expect(r.status).toBe(402);
      expect(r.json.error).toMatchObject({
        code: "insufficient_quota",
        type: "insufficient_quota",
      });
      expect(await s.store.getBalance("acct_poor")).toEqual(before);
      expect(await tasksOf("acct_poor")).toBe(0);
    });

    it("402 when the key's own credit limit cannot cover it, though the account could", async () => {
      expect((await s.api("/v1/images/generations", { body: base, key: LIMITED_KEY })).status).toBe(
        200,
      );
      const r = await s.api("/v1/images/generations", { body: base, key: LIMITED_KEY });
      expect(r.status).toBe(402);
      expect(r.json.error.code).toBe("insufficient_quota");
    });

    it("429 rate_limit_exceeded with Retry-After when the key has too many tasks in progress", async () => {
      const key = "sk-busy00000000000000000000000000000000000b";
      await addAccount(s.admin, {
        name: "busy",
        key,
        credits: 10,
        keySettings: { maxConcurrent: 1 },
      });
      await warmKeyCache(s, key);
      expect((await s.api("/v1/images/generations", { body: base, key })).status).toBe(200);
      const r = await s.api("/v1/images/generations", { body: base, key });
      expect(r.status).toBe(429);
      expect(r.headers.get("retry-after")).toBe("5");
      expect(r.json.error).toMatchObject({
        code: "rate_limit_exceeded",
        type: "rate_limit_error",
        message: "This API key has too many tasks in progress.",
      });
      expect(await tasksOf("acct_busy")).toBe(1);
    });

    it("403 model_access_denied for a model outside the key's allow-list", async () => {
      const r = await s.api("/v1/images/generations", { body: base, key: OTHER_KEY });
      expect(r.status).toBe(403);
      expect(r.json.error).toMatchObject({
        code: "model_access_denied",
        type: "invalid_request_error",
      });
    });

    it("404 model_not_found for an unknown model", async () => {
      const r = await s.api("/v1/images/generations", { body: { ...base, model: "dall-e-9" } });
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({
        code: "model_not_found",
        type: "invalid_request_error",
      });
    });

    it("413 request_too_large for a body over the limit", async () => {
      const r = await s.api("/v1/images/generations", {
        body: { ...base, pad: "x".repeat(1_100_000) },
      });
      expect(r.status).toBe(413);
      expect(r.json.error).toMatchObject({
        code: "request_too_large",
        type: "invalid_request_error",
      });
    });

    it("415 JSON error for a non-JSON content type", async () => {
      const r = await s.api("/v1/images/generations", {
        rawBody: "model=x",
        headers: { "content-type": "text/plain" },
      });
      expect(r.status).toBe(415);
      expect(r.json.error.code).toBe("unsupported_media_type");
    });
  });

  describe("Idempotency-Key", () => {
    it("replays the same task for the same body, charging once", async () => {
      const key = "order-42:attempt.1";
      const before = await s.store.getBalance("acct_other");
      const body = { model: "doubao-seedream-4.5", prompt: "idempotent" };
      const a = await s.api("/v1/images/generations", {
        body,
        key: OTHER_KEY,
        headers: { "idempotency-key": key },
      });
      const b = await s.api("/v1/images/generations", {
        body: { prompt: "idempotent", model: "doubao-seedream-4.5" },
        key: OTHER_KEY,
        headers: { "idempotency-key": key },
      });
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(b.json.id).toBe(a.json.id);
      expect(a.headers.get("idempotency-replayed")).toBeNull();
      expect(b.headers.get("idempotency-replayed")).toBe("true");
      const after = await s.store.getBalance("acct_other");
      expect(after!.heldMicros - before!.heldMicros).toBe(2_500_000);
    });

    it("409 idempotency_key_reused for the same key with another body", async () => {
      const headers = { "idempotency-key": "reuse-me" };
      expect((await s.api("/v1/images/generations", { body: base, headers })).status).toBe(200);
      const r = await s.api("/v1/images/generations", { body: { ...base, n: 2 }, headers });
      expect(r.status).toBe(409);
      expect(r.json.error).toMatchObject({
        code: "idempotency_key_reused",
        type: "invalid_request_error",
      });
    });

    it("is scoped to the account: another account's same key creates its own task", async () => {
      const headers = { "idempotency-key": "shared-key" };
      const body = { model: "doubao-seedream-4.5", prompt: "p" };
      const a = await s.api("/v1/images/generations", { body, headers });
      const b = await s.api("/v1/images/generations", { body, headers, key: OTHER_KEY });
      expect(a.json.id).not.toBe(b.json.id);
    });

    it("400 for a malformed Idempotency-Key", async () => {
      const r = await s.api("/v1/images/generations", {
        body: base,
        headers: { "idempotency-key": "has space" },
      });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe("Idempotency-Key");
    });
  });
});
