/**
 * spec/api.md: result URLs are signed and valid for a configurable time (default 24 h);
 * an expired or tampered link is 403 or 404 with the JSON error body. Here the lifetime
 * is DARKROOM_RESULT_URL_TTL=120: a link's `exp` is 120 s after it was handed out, it
 * serves the image until then, and is a JSON 403 once the clock passes it (time moves
 * through test/helpers/clock.ts, not a sleep). A server without the setting gives 24 h.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { shiftableClock, type ShiftedClock } from "../helpers/clock.js";
import { startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

let short: TestServer;
let standard: TestServer;
let clock: ShiftedClock | null = null;

beforeAll(async () => {
  short = await startTestServer({ DARKROOM_RESULT_URL_TTL: "120" });
  standard = await startTestServer();
});
afterEach(() => {
  clock?.restore();
  clock = null;
});
afterAll(async () => {
  await short?.stop();
  await standard?.stop();
});

/** A completed task's first link, with the unix seconds just before and after it was read. */
async function freshLink(s: TestServer, prompt: string) {
  const sub = await s.api("/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", prompt },
  });
  await waitForTask(s, sub.json.id);
  const before = Math.floor(Date.now() / 1000);
  const view = await s.api(`/v1/tasks/${sub.json.id}`);
  const after = Math.floor(Date.now() / 1000);
  const link = new URL(view.json.results[0] as string);
  return { link, exp: Number(link.searchParams.get("exp")), before, after };
}

describe("result link lifetime", () => {
  it("DARKROOM_RESULT_URL_TTL=120: exp is 120 s after the link was given; then a JSON 403", async () => {
    const { link, exp, before, after } = await freshLink(short, "short-lived link");
    expect(exp).toBeGreaterThanOrEqual(before + 120);
    expect(exp).toBeLessThanOrEqual(after + 120);

    const ok = await fetch(link);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^image\//);
    await ok.arrayBuffer();

    clock = shiftableClock();
    clock.advance((exp - Math.floor(Date.now() / 1000) + 1) * 1000);
    const expired = await fetch(link);
    expect(expired.status).toBe(403);
    expect(expired.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await expired.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: "forbidden", message: "This link has expired." });
  });

  it("without the setting a link lives 24 h", async () => {
    const { exp, before, after } = await freshLink(standard, "day-long link");
    expect(exp).toBeGreaterThanOrEqual(before + 86_400);
    expect(exp).toBeLessThanOrEqual(after + 86_400);
  });
});
