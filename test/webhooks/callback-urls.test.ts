/**
 * Hostile callback URLs are refused at submission (400, param callback_url) and change
 * nothing. What the text check cannot see — a public-looking name that resolves to an
 * internal address — is refused at delivery (test/webhooks/dispatcher.test.ts), which
 * also replays this whole table through the dispatcher.
 *
 * Neither the runner nor the dispatcher runs here: an accepted URL must not be
 * contacted (nothing leaves this machine).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOSTILE_URLS } from "../net/hostile-urls.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let strict: TestServer;
let lenient: TestServer;

beforeAll(async () => {
  [strict, lenient] = await Promise.all([
    startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_WEBHOOKS: "false" }),
    startTestServer({
      DARKROOM_RUNNER: "false",
      DARKROOM_WEBHOOKS: "false",
      DARKROOM_ALLOW_HTTP_CALLBACKS: "true",
      DARKROOM_OUTBOUND_ALLOW: "10.1.0.0/16,hooks.corp.example",
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([strict?.stop(), lenient?.stop()]);
});

const submit = (s: TestServer, callback_url: unknown) =>
  s.api("/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", prompt: "a harbour", callback_url },
  });

describe("callback_url at submission", () => {
  it.each([
    ["loopback", "https://127.0.0.1/hook"],
    ["IPv6 loopback", "https://[::1]/hook"],
    ["private", "https://10.0.0.1/hook"],
    ["private 192.168", "https://192.168.0.10/hook"],
    ["metadata", "https://169.254.169.254/latest/meta-data/"],
    ["mapped IPv6", "https://[::ffff:10.0.0.1]/hook"],
    ["decimal IPv4", "https://2130706433/hook"],
    ["localhost", "https://localhost/hook"],
    ["internal name", "https://metadata.google.internal/"],
    ["plain http", "http://example.com/hook"],
    ["userinfo", "https://user:secret@example.com/hook"],
    ["too long", `https://example.com/${"a".repeat(2048)}`],
    ["not a URL", "hook"],
    ["not a string", 42],
  ])("refuses %s", async (_label, url) => {
    const r = await submit(strict, url);
    expect(r.status, r.text).toBe(400);
    expect(r.json.error.param).toBe("callback_url");
    expect(r.json.error.code).toBe("invalid_request");
  });

  it("refuses every URL of the shared hostile table, and nothing was charged", async () => {
    const before = (await strict.api("/v1/credits")).json.data.user.remaining_credits;
    for (const h of HOSTILE_URLS) {
      const r = await submit(strict, h.url);
      expect(r.status, `${h.url}: ${r.text}`).toBe(400);
      expect(r.json.error.param, h.url).toBe("callback_url");
    }
    expect((await strict.api("/v1/credits")).json.data.user.remaining_credits).toBe(before);
  });

  it("accepts a public https URL of exactly 2048 characters", async () => {
    const base = "https://example.com/";
    const r = await submit(strict, base + "a".repeat(2048 - base.length));
    expect(r.status, r.text).toBe(200);
  });

  it("with the operator's allowances: http and allow-listed ranges and names pass", async () => {
    expect((await submit(lenient, "http://example.com/hook")).status).toBe(200);
    expect((await submit(lenient, "https://10.1.2.3/hook")).status).toBe(200);
    expect((await submit(lenient, "https://hooks.corp.example/hook")).status).toBe(200);
    // Outside the allowances, the rules still hold.
    const r = await submit(lenient, "https://10.2.0.1/hook");
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("callback_url");
    expect((await submit(lenient, "https://127.0.0.1/hook")).status).toBe(400);
    expect((await submit(lenient, "ftp://example.com/hook")).status).toBe(400);
  });
});
