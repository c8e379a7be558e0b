/**
 * Real `darkroom serve` processes for end-to-end tests of roles, threads and shutdown:
 * started from sources through tsx on one data dir, read by their JSON log lines. Every
 * process still running when the file's tests end is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect } from "vitest";
import { request, TEST_ADMIN_TOKEN, TEST_API_KEY } from "./server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export interface ServedProcess {
  child: ChildProcess;
  url: string;
  /** Every JSON log line so far. */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first log line whose message contains `text`. */
  logged(text: string): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts `darkroom serve` processes on `dataDir`, with the test key and admin token. */
export function serveProcesses(dataDir: string) {
  const running = new Set<ChildProcess>();
  afterAll(() => {
    for (const c of running) c.kill("SIGKILL");
  });

  function spawnServe(args: string[], env: Record<string, string>) {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(root, "src/cli/main.ts"), "serve", ...args],
      {
        cwd: root,
        env: {
          ...process.env,
          HOST: "127.0.0.1",
          DARKROOM_DATA_DIR: dataDir,
          DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
          DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          DARKROOM_BOOTSTRAP_CREDITS: "100",
          DARKROOM_POLL_INTERVAL_MS: "50",
          DARKROOM_LEASE_SECONDS: "2",
          LOG_LEVEL: "info",
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    running.add(child);
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    return { child, exited, stderr: () => stderr };
  }

  async function serve(role: string, env: Record<string, string> = {}): Promise<ServedProcess> {
    const port = await freePort();
    const { child, exited } = spawnServe(["--role", role], { PORT: String(port), ...env });
    const lines: Array<Record<string, unknown>> = [];
    const waiters: Array<{ text: string; resolve: (l: Record<string, unknown>) => void }> = [];
    let partial = "";
    child.stdout!.on("data", (d: Buffer) => {
      const text = partial + d.toString();
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const raw of parts) {
        if (!raw.startsWith("{")) continue;
        const line = JSON.parse(raw) as Record<string, unknown>;
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (String(line.msg).includes(w.text)) w.resolve(line);
          else waiters.push(w);
        }
      }
    });
    const logged = (text: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const seen = lines.find((l) => String(l.msg).includes(text));
        if (seen) resolve(seen);
        else waiters.push({ text, resolve });
      });
    const url = `http://127.0.0.1:${port}`;
    await Promise.race([
      logged("darkroom is ready"),
      exited.then((code) => {
        throw new Error(`darkroom serve --role ${role} exited (${code}) before it was ready`);
      }),
    ]);
    return { child, url, lines, logged, exited };
  }

  return { spawnServe, serve };
}

export const api = (base: string, p: string, init?: Parameters<typeof request>[1]) =>
  request(base + p, init, TEST_API_KEY);

export async function submit(base: string, prompt: string): Promise<string> {
  const r = await api(base, "/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", prompt, n: 1, size: "1K" },
  });
  expect(r.status, r.text).toBe(200);
  return r.json.id as string;
}

export async function until(
  what: string,
  probe: () => Promise<boolean>,
  ms = 60_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function statusOf(base: string, id: string) {
  return (await api(base, `/v1/tasks/${id}`)).json as {
    status: string;
    progress: number;
    usage: { credits_used?: number };
    results?: string[];
    error?: { code: string };
  };
}

export { TEST_ADMIN_TOKEN, TEST_API_KEY };
