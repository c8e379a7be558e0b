/** Secrets never appear in logs, errors, or the admin API after creation. */
import pino from "pino";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { startDarkroom, type Darkroom } from "../../src/server/darkroom.js";
import { request, TEST_ADMIN_TOKEN, TEST_API_KEY } from "../helpers/server.js";

const lines: string[] = [];
let dr: Darkroom;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "darkroom-secrets-"));
  const config = loadConfig({
    PORT: "0",
    DARKROOM_DATA_DIR: dir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DARKROOM_ACCESS_LOG: "true",
    DARKROOM_SANDBOX_DURATION_MS: "10",
  });
  dr = await startDarkroom(
    config,
    pino({ level: "trace" }, { write: (l: string) => void lines.push(l) }),
  );
});
afterAll(async () => {
  await dr.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("secrets", () => {
  it("API keys and the admin token never reach the logs, even with access logs at trace level", async () => {
    const created = await request(
      `${dr.url}/admin/v1/accounts/${await defaultAccount()}/keys`,
      { body: {} },
      TEST_ADMIN_TOKEN,
    );
    const newKey: string = created.json.key;
    await request(
      `${dr.url}/v1/images/generations`,
      { body: { model: "doubao-seedream-4.0", prompt: "x" } },
      newKey,
    );
    await request(
      `${dr.url}/v1/tasks/task-unified-1-abcdefgh`,
      {},
      "sk-wrong00000000000000000000000000000000000",
    );
    await request(`${dr.url}/admin/v1/accounts`, {}, "sk-wrong-admin-attempt-0000000000000000000");
    const all = lines.join("\n");
    expect(lines.length).toBeGreaterThan(3);
    for (const secret of [
      TEST_API_KEY,
      TEST_ADMIN_TOKEN,
      newKey,
      "sk-wrong00000000000000000000000000000000000",
    ]) {
      expect(all).not.toContain(secret);
    }
  });

  it("error bodies never echo the credential", async () => {
    const r = await request(
      `${dr.url}/v1/tasks/x`,
      {},
      "sk-echo-me-000000000000000000000000000000000",
    );
    expect(r.text).not.toContain("sk-echo-me");
  });
});

async function defaultAccount(): Promise<string> {
  const r = await request(`${dr.url}/admin/v1/accounts`, {}, TEST_ADMIN_TOKEN);
  return r.json.data.find((a: { name: string }) => a.name === "default").id;
}
