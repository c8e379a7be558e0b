/** /console when the console was not built: a JSON answer saying how to build it, not a crash. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, startTestServer, type TestServer } from "../helpers/server.js";

describe("the console route without a built console", () => {
  let s: TestServer;
  let empty: string;

  beforeAll(async () => {
    empty = mkdtempSync(path.join(tmpdir(), "darkroom-no-console-"));
    s = await startTestServer({}, { consoleDir: empty });
  });
  afterAll(async () => {
    await s.stop();
    rmSync(empty, { recursive: true, force: true });
  });

  it("says how to build it, in the API's JSON error shape", async () => {
    for (const p of ["/console/", "/console/assets/index.js"]) {
      const r = await request(`${s.url}${p}`);
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe("not_found");
      expect(r.json.error.message).toMatch(/npm run build/);
    }
  });

  it("still sends / and /console to /console/", async () => {
    const root = await fetch(`${s.url}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/");
    const bare = await fetch(`${s.url}/console`, { redirect: "manual" });
    expect(bare.status).toBe(301);
    expect(bare.headers.get("location")).toBe("/console/");
  });

  it("leaves the API alone", async () => {
    expect((await s.api("/v1/models")).status).toBe(200);
  });
});
