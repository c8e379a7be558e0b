/** `darkroom channels ...` against a running server. */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dir = mkdtempSync(path.join(tmpdir(), "darkroom-chcli-"));
let s: TestServer;

beforeAll(async () => {
  const file = path.join(dir, "c.json");
  writeFileSync(
    file,
    JSON.stringify({
      channels: [{ id: "sb-main", model: "doubao-seedream-4.5", provider: "sandbox", weight: 2 }],
    }),
  );
  s = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_CONFIG: file });
});
afterAll(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  try {
    const r = await run(
      process.execPath,
      ["--import", "tsx", path.join(root, "src/cli/main.ts"), ...args],
      {
        cwd: root,
        env: { ...process.env, DARKROOM_URL: s.url, DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
      },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("darkroom channels", () => {
  it("lists channels with their health, and refuses to change a config-file channel", async () => {
    const list = await cli(["channels", "list", "--model", "doubao-seedream-4.5"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/ID\s+MODEL\s+PROVIDER\s+SOURCE/);
    expect(list.stdout).toMatch(
      /sb-main\s+doubao-seedream-4.5\s+sandbox\s+config\s+0\s+2\s+true\s+closed\s+0\/8/,
    );
    const json = JSON.parse((await cli(["--json", "channels", "get", "sb-main"])).stdout);
    expect(json).toMatchObject({ id: "sb-main", health: { state: "closed" } });
    const off = await cli(["channels", "disable", "sb-main"]);
    expect(off.code).not.toBe(0);
    expect(off.stderr).toMatch(/config file/);
  });
});
