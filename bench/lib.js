// Pieces the benchmarks share: a free loopback port, waiting for a server, autocannon
// as a promise, the floor server, CPU time from /proc, a median, the Ark emulator.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import autocannon from "autocannon";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers 2xx; throws after `timeoutMs` (30 s). */
export async function waitUp(url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

export function cannon(opts) {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** autocannon in a child process of its own (see cannon-child.js). */
export function cannonFresh(opts) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [new URL("./cannon-child.js", import.meta.url).pathname],
      { env: { ...process.env, CANNON_OPTS: JSON.stringify(opts) }, maxBuffer: 64 * 2 ** 20 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    );
  });
}

/** The floor's answer: a task JSON of the size a poll returns. */
export const BARE_BODY = JSON.stringify({
  created: 1757165031,
  id: "task-unified-1757165031-k3v9x2qa",
  model: "doubao-seedream-4.0",
  object: "image.generation.task",
  progress: 0,
  status: "pending",
  task_info: { can_cancel: true, estimated_time: 45 },
  type: "image",
  usage: { billing_rule: "per_call", credits_reserved: 1.8, user_group: "default" },
});

/** The floor: bare node:http answering BODY (run with `node -e`, PORT and BODY in env). */
export const BARE_SERVER = `
const http = require("node:http");
const body = process.env.BODY;
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => { res.writeHead(200, { "content-type": "application/json" }); res.end(body); });
}).listen(Number(process.env.PORT), "127.0.0.1");
`;

/** CPU seconds (user + system) a process has used so far; null off Linux. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The Ark emulator (bench/ark-emulator.ts) as a child process. Resolves to the child and
 * its URL; `onLine` gets every later line it prints (with ARK_ANSWER_LOG=1, one per answer).
 */
export async function startArkProcess(root, env, onLine = () => {}) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(root, "bench/ark-emulator.ts")],
    { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] },
  );
  const url = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`ark emulator exited (${code})`)));
    let first = true;
    createInterface({ input: child.stdout }).on("line", (l) => {
      const m = JSON.parse(l);
      if (first) {
        first = false;
        resolve(m.url);
      } else onLine(m);
    });
  });
  return { child, url };
}
