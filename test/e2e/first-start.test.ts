/**
 * The first start's secrets (src/cli/serve.ts): generated once and stored only as
 * hashes, so they are printed the moment they exist. A first start that then fails
 * (here: its port is taken) must still have shown them, and they must work on the
 * next start, which prints none.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dataDir = mkdtempSync(path.join(os.tmpdir(), "darkroom-first-start-"));
const otherDir = mkdtempSync(path.join(os.tmpdir(), "darkroom-first-start-"));
const blockers: Server[] = [];

afterAll(() => {
  for (const b of blockers) b.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(otherDir, { recursive: true, force: true });
});

function listening(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ server, port: typeof a === "object" && a ? a.port : 0 });
    });
  });
}

async function freePort(): Promise<number> {
  const { server, port } = await listening();
  await new Promise((r) => server.close(r));
  return port;
}

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** `darkroom serve` on the test's data dir; `done` resolves when it exits. */
function serve(
  port: number,
  dir = dataDir,
): {
  child: ChildProcess;
  done: Promise<Run>;
  output: () => string;
} {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(root, "src/cli/main.ts"), "serve"],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        HOST: "127.0.0.1",
        PORT: String(port),
        DARKROOM_DATA_DIR: dir,
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const done = new Promise<Run>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    }),
  );
  const output = () => stdout;
  return { child, done, output };
}

describe("the first start's secrets", () => {
  let apiKey = "";
  let adminToken = "";

  it("are printed even when the first start fails after creating them", async () => {
    const taken = await listening();
    blockers.push(taken.server);
    const run = await serve(taken.port).done;
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("EADDRINUSE");
    expect(run.stdout).toContain("Darkroom initialised a new database.");
    apiKey = /API key:\s+(sk-\S+)/.exec(run.stdout)?.[1] ?? "";
    adminToken = /Admin token:\s+(\S+)/.exec(run.stdout)?.[1] ?? "";
    expect(apiKey).toMatch(/^sk-/);
    expect(adminToken.length).toBeGreaterThan(20);
    expect(run.stdout).not.toContain("Darkroom is ready");
  }, 90_000);

  it("work on the next start, which prints no new ones", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const { child, done, output } = serve(port);
    // Ready (and so handling SIGTERM), not only listening.
    for (let i = 0; !output().includes('"msg":"darkroom is ready"'); i++) {
      if (i > 600) throw new Error("the second start did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
    const get = async (p: string, token: string) =>
      (await fetch(`${url}${p}`, { headers: { authorization: `Bearer ${token}` } })).status;
    const statuses = [
      await get("/v1/tasks", apiKey),
      await get("/admin/v1/accounts", adminToken),
      await get("/v1/tasks", `sk-${"x".repeat(40)}`),
    ];
    child.kill("SIGTERM");
    const run = await done;
    expect(statuses).toEqual([200, 200, 401]);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain("initialised");
  }, 90_000);
});

describe("a signal while the gateway is starting", () => {
  it("stops it gracefully once it is up, rather than killing it half-started", async () => {
    const { child, done, output } = serve(await freePort(), otherDir);
    // The secrets are printed before the gateway listens and starts its worker thread.
    for (let i = 0; !output().includes("initialised a new database"); i++) {
      if (i > 600) throw new Error("the start never bootstrapped");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGTERM");
    const run = await done;
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"msg":"shutdown complete');
  }, 90_000);
});
