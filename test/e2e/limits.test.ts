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

  it("an address sending more than 20 bad keys a minute gets 429 for a minute, even with a good key", async () => {
    for (let i = 0; i < 20; i++) {
      const r = await s.api("/v1/credits", { key: `sk-${String(i).padStart(40, "x")}` });
      expect(r.status).toBe(401);
    }
    const throttled = await s.api("/v1/credits");
    expect(throttled.status).toBe(429);
    expect(throttled.json.error.code).toBe("rate_limit_exceeded");
    expect(throttled.headers.get("retry-after")).toBe("60");
    // The admin API has its own credential and is not throttled by /v1 failures.
    expect((await admin("/accounts")).status).toBe(200);
  });
});
