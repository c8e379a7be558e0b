/** The `darkroom` CLI against a running server, through the admin API. */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
});
afterAll(() => s.stop());

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(
      process.execPath,
      ["--import", "tsx", path.join(root, "src/cli/main.ts"), ...args],
      {
        cwd: root,
        env: {
          ...process.env,
          DARKROOM_URL: s.url,
          DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          ...env,
        },
      },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

// Each step spawns a CLI process, which takes seconds on a loaded machine.
describe("darkroom CLI", { timeout: 120_000 }, () => {
  it("creates an account, tops it up, creates and revokes a key, and reads the ledger", async () => {
    const created = await cli(["--json", "accounts", "create", "cli-co", "--credits", "12.5"]);
    expect(created.code, created.stderr).toBe(0);
    const account = JSON.parse(created.stdout);
    expect(account).toMatchObject({ name: "cli-co", balance: 12.5 });

    const table = await cli(["accounts", "list"]);
    expect(table.stdout).toMatch(/ID\s+NAME\s+GROUP\s+BALANCE/);
    expect(table.stdout).toContain("cli-co");

    const topup = await cli([
      "--json",
      "accounts",
      "topup",
      account.id,
      "2.25",
      "--reason",
      "promo",
    ]);
    expect(JSON.parse(topup.stdout).account.balance).toBe(14.75);
    const noReason = await cli(["accounts", "topup", account.id, "1"]);
    expect(noReason.code).not.toBe(0);

    const key = await cli([
      "keys",
      "create",
      account.id,
      "--models",
      "doubao-seedream-4.0",
      "--rpm",
      "60",
    ]);
    expect(key.code, key.stderr).toBe(0);
    const secret = /API key \(shown once\): (sk-\S+)/.exec(key.stdout)![1]!;
    expect((await s.api("/v1/models", { key: secret })).json.data).toHaveLength(1);

    const keys = JSON.parse((await cli(["--json", "keys", "list", account.id])).stdout);
    expect(JSON.stringify(keys)).not.toContain(secret);
    expect((await cli(["keys", "revoke", keys.data[0].id])).code).toBe(0);
    expect((await s.api("/v1/models", { key: secret })).status).toBe(401);

    const ledger = await cli(["ledger", "list", "--account", account.id]);
    expect(ledger.stdout).toMatch(/topup\s+2\.25/);
    expect(ledger.stdout).toContain("promo");
    const check = await cli(["ledger", "check"]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain("consistent");
  });

  it("says what is wrong, with a non-zero exit, for a bad token or an unreachable server", async () => {
    const bad = await cli(["accounts", "list"], {
      DARKROOM_ADMIN_TOKEN: "wrong-token-xxxxxxxxxxxxxxxxxxxx",
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/admin token/);
    const down = await cli(["accounts", "list"], { DARKROOM_URL: "http://127.0.0.1:9" });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot reach/);
  });
});
