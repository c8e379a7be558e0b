/** Every failure on every route is the JSON error shape: never HTML, text, or a stack. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
});
afterAll(() => s.stop());

function expectErrorShape(json: { error: Record<string, unknown> }) {
  expect(Object.keys(json)).toEqual(["error"]);
  expect(typeof json.error.code).toBe("string");
  expect(typeof json.error.message).toBe("string");
  expect(typeof json.error.type).toBe("string");
}

describe("error shape everywhere", () => {
  it("unknown routes, with and without /v1, any method", async () => {
    for (const [method, p] of [
      // `/` sends a browser to the console (routes/console.ts); a lookalike is still unknown.
      ["GET", "/console-nope"],
      ["GET", "/nope"],
      ["POST", "/v1/nope"],
      ["GET", "/v1/tasks/task-unified-1/extra"],
    ] as const) {
      const r = await s.api(p, { method });
      expect(r.status, `${method} ${p}`).toBe(404);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expectErrorShape(r.json);
    }
  });

  it("a known route asked with the wrong method: 405 JSON with Allow, not 404", async () => {
    for (const [method, p, allow] of [
      ["DELETE", "/v1/images/generations", "POST"],
      ["GET", "/v1/images/generations", "POST"],
      ["POST", "/v1/tasks/task-unified-1757165031-abcdefgh", "GET, HEAD"],
      ["GET", "/v1/tasks/task-unified-1757165031-abcdefgh/cancel", "POST"],
      ["PUT", "/v1/credits", "GET, HEAD"],
      ["POST", "/healthz", "GET, HEAD"],
      ["DELETE", "/admin/v1/accounts", "GET, HEAD, POST"],
    ] as const) {
      const r = await s.api(p, { method, ...(method === "GET" ? {} : { body: {} }) });
      expect(r.status, `${method} ${p}`).toBe(405);
      expect(r.headers.get("allow"), `${method} ${p}`).toBe(allow);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expectErrorShape(r.json);
      expect(r.json.error).toMatchObject({ code: "method_not_allowed" });
    }
  });

  it("every answer carries a request id, echoing a sane client one", async () => {
    const r = await s.api("/v1/tasks/x", { headers: { "x-request-id": "client-req-1" } });
    expect(r.headers.get("x-request-id")).toBe("client-req-1");
    const r2 = await s.api("/v1/tasks/x", { headers: { "x-request-id": "bad id with spaces" } });
    expect(r2.headers.get("x-request-id")).not.toBe("bad id with spaces");
    expect(r2.headers.get("x-request-id")).toBeTruthy();
  });

  it("empty JSON body and JSON with a BOM-less garbage", async () => {
    for (const raw of ["", "{", "{'a': 1}", "\u0000"]) {
      const r = await s.api("/v1/images/generations", {
        rawBody: raw,
        headers: { "content-type": "application/json" },
      });
      expect(r.status, JSON.stringify(raw)).toBe(400);
      expectErrorShape(r.json);
    }
  });

  it("a huge body is 413 JSON, not a dropped connection", async () => {
    const r = await s.api("/v1/images/generations", {
      rawBody: "x".repeat(3 * 1024 * 1024),
      headers: { "content-type": "application/json" },
    });
    expect(r.status).toBe(413);
    expectErrorShape(r.json);
  });

  it("health endpoints answer", async () => {
    expect((await s.api("/healthz", { key: null })).json).toEqual({ status: "ok" });
    expect((await s.api("/readyz", { key: null })).status).toBe(200);
  });
});
