/**
 * spec/api.md, Idempotency-Key: "1..128 chars of [A-Za-z0-9._:-]", and "a repeat within
 * 24 h by the same account with the same body returns the same task and the header
 * Idempotency-Replayed: true, creating and charging nothing". After 24 h the key no
 * longer binds: the same request creates (and reserves for) a new task. Time moves
 * through test/helpers/clock.ts, not a sleep.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { shiftableClock, type ShiftedClock } from "../helpers/clock.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const HOUR = 3_600_000;
let s: TestServer;
let clock: ShiftedClock | null = null;

beforeAll(async () => {
  // No runner: a clock jump must not make anything else happen (leases, sweeps).
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
});
afterEach(() => {
  clock?.restore();
  clock = null;
});
afterAll(() => s?.stop());

const submit = (key: string, body: Record<string, unknown>) =>
  s.api("/v1/images/generations", { body, headers: { "idempotency-key": key } });
const available = async () =>
  Math.round(((await s.api("/v1/credits")).json.data.user.remaining_credits as number) * 1e6);

describe("Idempotency-Key length", () => {
  it("128 characters are accepted and replayed; 129 are refused with 400 and the param", async () => {
    const body = { model: "doubao-seedream-4.0", prompt: "key length" };
    const k128 = "k".repeat(120) + ".:-_0123";
    expect(k128).toHaveLength(128);
    const a = await submit(k128, body);
    expect(a.status).toBe(200);
    const again = await submit(k128, body);
    expect([again.status, again.json.id]).toEqual([200, a.json.id]);
    expect(again.headers.get("idempotency-replayed")).toBe("true");

    const before = await available();
    const r = await submit(k128 + "x", body);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({
      code: "invalid_request",
      type: "invalid_request_error",
      param: "Idempotency-Key",
    });
    expect(await available()).toBe(before);
  });
});

describe("the 24 h idempotency window", () => {
  it("a repeat just inside 24 h replays; after 24 h it creates and reserves a new task", async () => {
    const body = { model: "doubao-seedream-4.0", prompt: "window", n: 2 };
    const first = await submit("window-1", body);
    expect(first.status).toBe(200);
    clock = shiftableClock();

    clock.advance(24 * HOUR - 60_000); // 23 h 59 min later
    let before = await available();
    const inside = await submit("window-1", body);
    expect([inside.status, inside.json.id]).toEqual([200, first.json.id]);
    expect(inside.headers.get("idempotency-replayed")).toBe("true");
    expect(await available()).toBe(before);

    clock.advance(2 * 60_000); // 24 h 1 min after the first
    before = await available();
    const after = await submit("window-1", body);
    expect(after.status).toBe(200);
    expect(after.json.id).not.toBe(first.json.id);
    expect(after.headers.get("idempotency-replayed")).toBeNull();
    expect(before - (await available())).toBe(3_600_000); // 1.8 × 2 reserved again

    // The key now binds to the new task.
    const replay = await submit("window-1", body);
    expect([replay.json.id, replay.headers.get("idempotency-replayed")]).toEqual([
      after.json.id,
      "true",
    ]);
  });

  it("after 24 h the same key with another body is a new task, not a 409", async () => {
    const first = await submit("window-2", { model: "doubao-seedream-4.0", prompt: "one" });
    expect(first.status).toBe(200);
    const conflict = await submit("window-2", { model: "doubao-seedream-4.0", prompt: "two" });
    expect([conflict.status, conflict.json.error.code]).toEqual([409, "idempotency_key_reused"]);
    clock = shiftableClock();
    clock.advance(24 * HOUR + 1000);
    const later = await submit("window-2", { model: "doubao-seedream-4.0", prompt: "two" });
    expect(later.status).toBe(200);
    expect(later.json.id).not.toBe(first.json.id);
  });
});
