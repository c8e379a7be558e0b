/**
 * The admin API: every route, its authorisation, and the money rules it enforces.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ledgerInvariants,
  startTestServer,
  TEST_ADMIN_TOKEN,
  type TestServer,
} from "../helpers/server.js";

let s: TestServer;
const admin = (p: string, init: Parameters<TestServer["api"]>[1] = {}) =>
  s.api(`/admin/v1${p}`, { key: TEST_ADMIN_TOKEN, ...init });

beforeAll(async () => {
  // Behind a trusted proxy, so the authorisation tests can come from many addresses:
  // wrong admin tokens are throttled per address, like wrong API keys.
  s = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_TRUST_PROXY: "true" });
});
afterAll(async () => {
  await ledgerInvariants(s.admin);
  await s.stop();
});

describe("admin authorisation", () => {
  const routes: Array<[string, string]> = [
    ["GET", "/accounts"],
    ["POST", "/accounts"],
    ["GET", "/accounts/x"],
    ["PATCH", "/accounts/x"],
    ["POST", "/accounts/x/credits"],
    ["GET", "/accounts/x/keys"],
    ["POST", "/accounts/x/keys"],
    ["GET", "/keys/x"],
    ["PATCH", "/keys/x"],
    ["POST", "/keys/x/revoke"],
    ["GET", "/groups"],
    ["PUT", "/groups/x"],
    ["GET", "/models"],
    ["PUT", "/models/x/price"],
    ["GET", "/ledger"],
    ["GET", "/ledger/check"],
    ["GET", "/status"],
  ];
  for (const [i, [method, p]] of routes.entries()) {
    it(`${method} ${p}: 401 with an API key, with no credential and with a wrong token`, async () => {
      for (const key of [s.apiKey, null, "dra-wrong-token-000000000000000000000"]) {
        const r = await s.api(`/admin/v1${p}`, {
          method,
          key,
          headers: { "x-forwarded-for": `10.1.0.${i}` },
          ...(method === "GET" ? {} : { body: {} }),
        });
        expect(r.status).toBe(401);
        expect(r.json.error).toMatchObject({ code: "unauthorized", type: "authentication_error" });
      }
    });
  }
});

describe("wrong admin tokens are throttled like wrong API keys", () => {
  it("an address past 20 wrong tokens a minute gets 429, even with the right token; others are served", async () => {
    const from = (address: string, key: string) =>
      s.api("/admin/v1/status", { key, headers: { "x-forwarded-for": address } });
    for (let i = 0; i < 20; i++) {
      expect((await from("10.2.0.1", `dra-guess-${i}-00000000000000000000000`)).status).toBe(401);
    }
    const throttled = await from("10.2.0.1", "dra-guess-last-000000000000000000000");
    expect(throttled.status).toBe(429);
    expect(throttled.json.error).toMatchObject({
      code: "rate_limit_exceeded",
      type: "rate_limit_error",
    });
    expect(throttled.headers.get("retry-after")).toBe("60");
    expect((await from("10.2.0.1", TEST_ADMIN_TOKEN)).status).toBe(429);
    expect((await from("10.2.0.2", TEST_ADMIN_TOKEN)).status).toBe(200);
    // Bad admin tokens do not lock the address out of /v1 (its keys are their own matter).
    expect(
      (await s.api("/v1/credits", { headers: { "x-forwarded-for": "10.2.0.1" } })).status,
    ).toBe(200);
  });
});

describe("accounts, keys and credits", () => {
  let accountId = "";
  let keyId = "";
  let secret = "";

  it("creates an account with credits, visible in the list and by id", async () => {
    const r = await admin("/accounts", {
      body: { name: "acme", credits: "10.5", reason: "welcome" },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({
      name: "acme",
      group: "default",
      balance: 10.5,
      held: 0,
      available: 10.5,
      used: 0,
      disabled: false,
    });
    accountId = r.json.id;
    const list = await admin("/accounts?page=1&page_size=50");
    expect(list.json.data.map((a: { id: string }) => a.id)).toContain(accountId);
    expect(list.json.total).toBeGreaterThanOrEqual(2);
    expect((await admin(`/accounts/${accountId}`)).json.balance).toBe(10.5);
  });

  it("refuses a duplicate name (409) and bad bodies (400 with param)", async () => {
    expect((await admin("/accounts", { body: { name: "acme" } })).status).toBe(409);
    const bad = await admin("/accounts", { body: { name: "has space" } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe("name");
    const badGroup = await admin("/accounts", { body: { name: "g1", group: "nope" } });
    expect(badGroup.json.error.param).toBe("group");
  });

  it("creates a key whose secret is shown once and stored only as a hash", async () => {
    const r = await admin(`/accounts/${accountId}/keys`, {
      body: {
        name: "ci",
        allowed_models: ["doubao-seedream-4.0"],
        credit_limit: "5.4",
        rpm_limit: 1000,
        max_concurrent: 2,
      },
    });
    expect(r.status, r.text).toBe(200);
    secret = r.json.key;
    keyId = r.json.id;
    expect(secret).toMatch(/^sk-[A-Za-z0-9_-]{32,}$/);
    expect(r.json).toMatchObject({
      prefix: secret.slice(0, 10),
      credit_limit: 5.4,
      unlimited: false,
      max_concurrent: 2,
    });
    const listed = await admin(`/accounts/${accountId}/keys`);
    expect(listed.text).not.toContain(secret);
    expect((await admin(`/keys/${keyId}`)).text).not.toContain(secret);
    // Nothing the server keeps on disk (database, its journal, files) holds the key.
    const files = readdirSync(s.dataDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
    expect(files.some((f) => f.endsWith("darkroom.sqlite"))).toBe(true);
    for (const f of files) expect(readFileSync(f).includes(secret)).toBe(false);
  });

  it("the new key works on /v1, limited by its allow-list, credit limit and concurrency", async () => {
    const submit = (model = "doubao-seedream-4.0") =>
      s.api("/v1/images/generations", { key: secret, body: { model, prompt: "x" } });
    expect((await submit("doubao-seedream-4.5")).status).toBe(403);
    expect((await submit()).status).toBe(200);
    expect((await submit()).status).toBe(200);
    // The third would exceed both max_concurrent (2) and the credit limit (3 × 1.8 > 5.4? no: = 5.4);
    // concurrency is checked first: 429 with Retry-After.
    const third = await submit();
    expect(third.status).toBe(429);
    expect(third.json.error).toMatchObject({
      code: "rate_limit_exceeded",
      type: "rate_limit_error",
    });
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    const acct = await admin(`/accounts/${accountId}`);
    expect(acct.json).toMatchObject({ balance: 10.5, held: 3.6, available: 6.9 });
  });

  it("tops up and adjusts with a mandatory reason, recorded in the ledger", async () => {
    const noReason = await admin(`/accounts/${accountId}/credits`, { body: { amount: "1" } });
    expect(noReason.status).toBe(400);
    expect(noReason.json.error.param).toBe("reason");
    const up = await admin(`/accounts/${accountId}/credits`, {
      body: { amount: "0.1", reason: "goodwill" },
    });
    expect(up.status).toBe(200);
    expect(up.json.account.balance).toBe(10.6);
    const down = await admin(`/accounts/${accountId}/credits`, {
      body: { kind: "adjust", amount: "-0.3", reason: "correction" },
    });
    expect(down.json.account.balance).toBe(10.3);
    const negTopup = await admin(`/accounts/${accountId}/credits`, {
      body: { amount: "-1", reason: "x" },
    });
    expect(negTopup.status).toBe(400);
    // Cannot take back credits that running tasks hold (3.6 held of 10.3).
    const tooMuch = await admin(`/accounts/${accountId}/credits`, {
      body: { kind: "adjust", amount: "-7", reason: "x" },
    });
    expect(tooMuch.status).toBe(400);
    expect((await admin(`/accounts/${accountId}`)).json.balance).toBe(10.3);
    const ledger = await admin(`/ledger?account_id=${accountId}&page_size=100`);
    expect(
      ledger.json.data.map((e: { kind: string; amount: number; reason: string | null }) => [
        e.kind,
        e.amount,
        e.reason,
      ]),
    ).toEqual([
      ["adjust", -0.3, "correction"],
      ["topup", 0.1, "goodwill"],
      ["reserve", 1.8, null],
      ["reserve", 1.8, null],
      ["topup", 10.5, "welcome"],
    ]);
  });

  it("sums exactly: 0.1 + 0.2 credits is 0.3, no float drift", async () => {
    const a = await admin("/accounts", { body: { name: "floaty" } });
    await admin(`/accounts/${a.json.id}/credits`, { body: { amount: 0.1, reason: "a" } });
    const r = await admin(`/accounts/${a.json.id}/credits`, { body: { amount: 0.2, reason: "b" } });
    expect(r.json.account.balance).toBe(0.3);
  });

  it("changes the group (the multiplier applies to new tasks) and disables the account", async () => {
    expect(
      (await admin("/groups/vip", { method: "PUT", body: { multiplier: "0.5" } })).status,
    ).toBe(200);
    const patched = await admin(`/accounts/${accountId}`, {
      method: "PATCH",
      body: { group: "vip" },
    });
    expect(patched.json.group).toBe("vip");
    await admin(`/keys/${keyId}`, {
      method: "PATCH",
      body: { max_concurrent: null, credit_limit: null },
    });
    const sub = await s.api("/v1/images/generations", {
      key: secret,
      body: { model: "doubao-seedream-4.0", prompt: "x" },
    });
    expect(sub.json.usage).toMatchObject({ credits_reserved: 0.9, user_group: "vip" });
    await admin(`/accounts/${accountId}`, { method: "PATCH", body: { disabled: true } });
    const refused = await s.api("/v1/images/generations", {
      key: secret,
      body: { model: "doubao-seedream-4.0", prompt: "x" },
    });
    expect(refused.status).toBe(401);
    await admin(`/accounts/${accountId}`, { method: "PATCH", body: { disabled: false } });
  });

  it("revokes a key: 401 from then on", async () => {
    expect(
      (await admin(`/keys/${keyId}/revoke`, { method: "POST", body: {} })).json.revoked_at,
    ).toBeGreaterThan(0);
    const r = await s.api("/v1/images/generations", {
      key: secret,
      body: { model: "doubao-seedream-4.0", prompt: "x" },
    });
    expect(r.status).toBe(401);
  });

  it("an expired key is 401; a key cannot be created already expired", async () => {
    const born = await admin(`/accounts/${accountId}/keys`, { body: { expires_at: 1 } });
    expect(born.status).toBe(400);
    expect(born.json.error).toMatchObject({ code: "invalid_request", param: "expires_at" });
    const soon = Math.floor(Date.now() / 1000) + 3600;
    const k = await admin(`/accounts/${accountId}/keys`, { body: { expires_at: soon } });
    expect(k.status).toBe(200);
    expect((await s.api("/v1/credits", { key: k.json.key })).status).toBe(200);
    const ended = await admin(`/keys/${k.json.id}`, { method: "PATCH", body: { expires_at: 1 } });
    expect(ended.status).toBe(200);
    const r = await s.api("/v1/tasks/task-unified-1-abcdefgh", { key: k.json.key });
    expect(r.status).toBe(401);
    expect(r.json.error.message).toMatch(/expired/);
  });

  it("sets model prices, applied to new submissions", async () => {
    const r = await admin("/models/doubao-seedream-4.5/price", {
      method: "PUT",
      body: { price: "3" },
    });
    expect(r.json.price).toBe(3);
    const models = await admin("/models");
    expect(models.json.data.find((m: { id: string }) => m.id === "doubao-seedream-4.5").price).toBe(
      3,
    );
    const sub = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.5", prompt: "x" },
    });
    expect(sub.json.usage.credits_reserved).toBe(3);
    expect(
      (await admin("/models/nope/price", { method: "PUT", body: { price: "1" } })).status,
    ).toBe(404);
  });

  // A balance corrupted behind the ledger's back: test/store/sqlite/ledger.test.ts.
  it("the ledger check finds the ledger consistent after all of the above", async () => {
    const r = await admin("/ledger/check");
    expect(r.json).toEqual({ consistent: true, problems: [] });
  });

  it("404 JSON for unknown accounts and keys", async () => {
    for (const p of ["/accounts/nope", "/keys/nope", "/accounts/nope/keys"]) {
      const r = await admin(p);
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe("not_found");
    }
  });

  it("reports the process's memory, event-loop delay and runner load", async () => {
    const r = await admin("/status");
    expect(r.status).toBe(200);
    expect(r.json.object).toBe("status");
    expect(r.json.memory.rss_bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(r.json.event_loop_delay).toHaveProperty("max_since_start_ms");
    // This file's server is API only (no runner in the process).
    expect(s.dr.runner).toBeNull();
    expect(r.json.runner).toBeNull();
  });
});
