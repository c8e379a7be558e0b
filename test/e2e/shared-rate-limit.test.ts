/**
 * A key's rpm limit holds across the API processes of a deployment: two gateways on one
 * data dir share their counts (about once a second), so a client cannot get twice its
 * limit by spreading requests over both.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { request, startTestServer, TEST_ADMIN_TOKEN, type TestServer } from "../helpers/server.js";

const dir = mkdtempSync(path.join(tmpdir(), "darkroom-rpm-"));
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  const env = { DARKROOM_DATA_DIR: path.join(dir, "data"), DARKROOM_RUNNER: "false" };
  a = await startTestServer(env);
  b = await startTestServer(env);
});
afterAll(async () => {
  await a.stop();
  await b.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("counts a key's requests on one process against its limit on the other", async () => {
  const admin = (p: string, body?: unknown) =>
    request(`${a.url}/admin/v1${p}`, { key: TEST_ADMIN_TOKEN, ...(body ? { body } : {}) });
  const account = (await admin("/accounts")).json.data[0].id as string;
  const made = await admin(`/accounts/${account}/keys`, { name: "rpm40", rpm_limit: 40 });
  expect(made.status).toBe(200);
  const key = made.json.key as string;

  for (let i = 0; i < 40; i++) expect((await a.api("/v1/credits", { key })).status).toBe(200);
  expect((await a.api("/v1/credits", { key })).status).toBe(429);

  // Alone, b would admit 40 more. It learns a's 40 at its next share and refuses.
  let admitted = 0;
  for (;;) {
    const r = await b.api("/v1/credits", { key });
    if (r.status === 429) break;
    expect(r.status).toBe(200);
    admitted++;
    expect(admitted).toBeLessThan(40);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
