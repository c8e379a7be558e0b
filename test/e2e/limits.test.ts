/**
 * Issue 3's limits on the public API: a key's requests-per-minute (429 with
 * Retry-After, other keys untouched) and repeated bad keys from one address (that
 * address gets 429 for a minute, whatever key it sends next).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, request, startTestServer, type TestServer } from "../helpers/server.js";

describe("rate limits", () => {
  let s: TestServer;
  const admin = (p: string, init: Parameters<typeof request>[1] = {}) =>
    request(`${s.url}/admin/v1${p}`, init, TEST_ADMIN_TOKEN);

  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false" });
  });
  afterAll(() => s.stop());

  it("a key over its rpm limit gets 429 with Retry-After; another key is untouched", async () => {
    const account = (await admin("/accounts")).json.data[0].id as string;
    const limited = await admin(`/accounts/${account}/keys`, {
      body: { name: "rpm3", rpm_limit: 3 },
    });
    expect(limited.status).toBe(200);
    const key = limited.json.key as string;
    const statuses: number[] = [];
    let last = null as Awaited<ReturnType<typeof s.api>> | null;
    for (let i = 0; i < 5; i++) {
      last = await s.api("/v1/credits", { key });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(last!.json.error).toMatchObject({
      code: "rate_limit_exceeded",
      type: "rate_limit_error",
    });
    const retryAfter = Number(last!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Refused requests are not counted, and the main key has no limit.
    expect((await s.api("/v1/credits")).status).toBe(200);
  });

  it("requests with no key at all do not count as failed authentications", async () => {
    for (let i = 0; i < 30; i++)
      expect((await s.api("/v1/credits", { key: null })).status).toBe(401);
    expect((await s.api("/v1/credits")).status).toBe(200);
  });

  it("an address sending more than 20 bad keys a minute gets 429 for a minute for keys not known good", async () => {
    // A valid key this process has not seen yet: not in the key cache, so not known good.
    const account = (await admin("/accounts")).json.data[0].id as string;
    const fresh = (await admin(`/accounts/${account}/keys`, { body: { name: "fresh" } })).json
      .key as string;
    for (let i = 0; i < 20; i++) {
      const r = await s.api("/v1/credits", { key: `sk-${String(i).padStart(40, "x")}` });
      expect(r.status).toBe(401);
    }
    const throttled = await s.api("/v1/credits", { key: fresh });
    expect(throttled.status).toBe(429);
    expect(throttled.json.error).toMatchObject({
      code: "rate_limit_exceeded",
      type: "rate_limit_error",
    });
    expect(throttled.headers.get("retry-after")).toBe("60");
    // The admin API has its own credential and is not throttled by /v1 failures.
    expect((await admin("/accounts")).status).toBe(200);
  });
});

describe("throttling with the key cache on", () => {
  let c: TestServer;
  beforeAll(async () => {
    c = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_AUTH_CACHE_MS: "60000" });
  });
  afterAll(() => c.stop());

  it("a throttled address still serves keys already known good, and refuses the rest", async () => {
    expect((await c.api("/v1/credits")).status).toBe(200); // now cached
    for (let i = 0; i < 21; i++) {
      await c.api("/v1/credits", { key: `sk-${String(i).padStart(40, "y")}` });
    }
    expect((await c.api("/v1/credits")).status).toBe(200);
    const guess = await c.api("/v1/credits", { key: `sk-${"z".repeat(40)}` });
    expect(guess.status).toBe(429);
    expect(guess.headers.get("retry-after")).toBe("60");
  });
});

describe("behind a trusted proxy (DARKROOM_TRUST_PROXY)", () => {
  let p: TestServer;
  beforeAll(async () => {
    p = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_TRUST_PROXY: "127.0.0.1" });
  });
  afterAll(() => p.stop());

  it("throttles the forwarded client, not everyone behind the proxy", async () => {
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    for (let i = 0; i < 21; i++) {
      await p.api("/v1/credits", {
        key: `sk-${String(i).padStart(40, "q")}`,
        headers: from("203.0.113.5"),
      });
    }
    expect((await p.api("/v1/credits", { headers: from("203.0.113.5") })).status).toBe(429);
    expect((await p.api("/v1/credits", { headers: from("203.0.113.6") })).status).toBe(200);
  });

  it("refuses a malformed setting at start, naming the variable", async () => {
    const { loadConfig } = await import("../../src/config/config.js");
    expect(() => loadConfig({ DARKROOM_TRUST_PROXY: "proxy.example" })).toThrow(
      /DARKROOM_TRUST_PROXY/,
    );
    expect(loadConfig({ DARKROOM_TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(loadConfig({ DARKROOM_TRUST_PROXY: "10.0.0.0/8, ::1" }).trustProxy).toEqual([
      "10.0.0.0/8",
      "::1",
    ]);
  });
});
