/**
 * Concurrent submissions can never spend more credits than the balance holds: through
 * Fastify alone (key cache off) and through the submission fast path (key cache on),
 * where the refused ones are handed over to Fastify and decided again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addAccount,
  ledgerInvariants,
  startTestServer,
  type TestServer,
  warmKeyCache,
} from "../helpers/server.js";

describe.each([
  ["through the framework (key cache off)", "0"],
  ["with the submission fast path (key cache on)", "60000"],
])("racing submissions against one balance, %s", (_path, authCacheMs) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_AUTH_CACHE_MS: authCacheMs });
  });
  afterAll(async () => {
    await ledgerInvariants(s.admin);
    await s.stop();
  });

  it("100 concurrent submissions against a balance for 37 accept exactly 37", async () => {
    const key = "sk-race0000000000000000000000000000000000000";
    await addAccount(s.admin, { name: "race", key, credits: 37 * 1.8 });
    // With the cache on, the race then runs on the fast path.
    await warmKeyCache(s, key);
    const body = { model: "doubao-seedream-4.0", prompt: "race" };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => s.api("/v1/images/generations", { body, key })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((x) => x === 200)).toHaveLength(37);
    expect(statuses.filter((x) => x === 402)).toHaveLength(63);
    const bal = await s.store.getBalance("acct_race");
    expect(bal).toMatchObject({ balanceMicros: 66_600_000, heldMicros: 66_600_000 });
  });

  it("the key's limit and the account balance race each other: both hold", async () => {
    const key = "sk-keylimit000000000000000000000000000000000";
    // Account could pay for 30, the key may spend 10 images' worth.
    await addAccount(s.admin, { name: "keylimit", key, credits: 30 * 1.8, creditLimit: 10 * 1.8 });
    await warmKeyCache(s, key);
    const body = { model: "doubao-seedream-4.0", prompt: "race" };
    const results = await Promise.all(
      Array.from({ length: 60 }, () => s.api("/v1/images/generations", { body, key })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    expect(results.filter((r) => r.status === 402)).toHaveLength(50);
  });
});
