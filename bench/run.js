#!/usr/bin/env node
// Darkroom benchmark (not a test): measures submissions and polls against a bare
// node:http JSON server as the floor, in the same run, on the same machine.
//
//   npm run bench              # 64 connections, 5 rounds of 5 s per server and scenario
//   BENCH_ROUNDS=5 BENCH_SECONDS=10 BENCH_CONNECTIONS=64 npm run bench
//
// Every server runs as a child process, and so does autocannon, a fresh one for each
// measurement (bench/cannon-child.js): no load generator carries state from one into
// the next. Besides the floor: the floor writing each turn's answers together, as
// Darkroom's fast paths do (the like-for-like reference for that batching), and bare
// Fastify. The servers are measured in rounds, interleaved (the references, Darkroom,
// then the reverse order), and each round's ratio to the floor is taken from that
// round: on a shared VM the machine's speed drifts by tens of percent within a minute,
// so a floor measured a minute before the gateway says little. Reported: the median
// round. Also reported, from /proc on Linux: each server's CPU time per request, which
// drifts far less than throughput. Polls are measured on one task, as the targets are,
// and over the newest BENCH_POLL_TASKS tasks in turn, as a busy gateway sees them. The gateway
// runs with the runner off (an API-only process, as in a scaled-out deployment), so
// the figures are the HTTP + durable-write path, not image rendering.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  BARE_BODY,
  BARE_SERVER,
  cannonFresh,
  cpuSeconds,
  freePort,
  median,
  waitUp,
} from "./lib.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 64);
const POLL_TASKS = Number(process.env.BENCH_POLL_TASKS || 10_000);
const API_KEY = "sk-bench" + "0".repeat(40);

// The same floor, but writing each turn's answers together at its end, as Darkroom's
// fast paths do (src/http/fast-paths/response-batch.ts): the like-for-like reference
// for what that batching buys on this machine, apart from everything else.
const BATCHED_BARE_SERVER = `
const http = require("node:http");
const body = process.env.BODY;
let queue = [];
const flush = () => {
  const batch = queue;
  queue = [];
  for (const res of batch) { res.writeHead(200, { "content-type": "application/json" }); res.end(body); }
};
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => { if (queue.length === 0) setImmediate(flush); queue.push(res); });
}).listen(Number(process.env.PORT), "127.0.0.1");
`;

// The framework's own ceiling: Fastify with no hooks, no auth, no database.
const FASTIFY_SERVER = `
const app = require("fastify")({ logger: false });
const body = JSON.parse(process.env.BODY);
app.get("/", async () => body);
app.post("/", async () => body);
app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
`;

function once(opts, duration) {
  return cannonFresh({ connections: CONNECTIONS, duration, ...opts });
}

async function measure(target) {
  const before = cpuSeconds(target.pid);
  const r = await once(target.opts, SECONDS);
  const after = cpuSeconds(target.pid);
  return {
    requests_per_s: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    cpu_us_per_req:
      before === null || after === null || r.requests.total === 0
        ? null
        : Math.round(((after - before) * 1e7) / r.requests.total) / 10,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

/**
 * Measures `targets` (the floor first, then the batched floor and Fastify, then the
 * gateway's rows) in ROUNDS interleaved rounds after a warm-up each (JIT, caches; not
 * measured). Each row: the median round's figures and the median of the per-round
 * ratios to the floor (and, for the gateway, to the batched floor and to Fastify).
 */
async function compare(label, targets) {
  for (const t of targets) await once(t.opts, 2);
  const rounds = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) rounds[i].push(await measure(targets[i]));
  }
  const ratio = (i, base) =>
    `${Math.round(median(rounds[i].map((r, k) => r.requests_per_s / rounds[base][k].requests_per_s)) * 100)}%`;
  const gateway = (i) => i >= 3;
  return targets.map((t, i) => {
    const rs = rounds[i];
    const pick = (key) => (rs.some((r) => r[key] === null) ? null : median(rs.map((r) => r[key])));
    return {
      scenario: `${t.name}, ${label}`,
      requests_per_s: Math.round(median(rs.map((r) => r.requests_per_s))),
      p50_ms: pick("p50_ms"),
      p99_ms: pick("p99_ms"),
      cpu_us_per_req: pick("cpu_us_per_req"),
      vs_floor: i === 0 ? "" : ratio(i, 0),
      vs_batched_floor: gateway(i) ? ratio(i, 1) : "",
      vs_fastify: gateway(i) ? ratio(i, 2) : "",
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors + r.timeouts, 0),
      rounds: rs.map((r) => r.requests_per_s).join(" / "),
    };
  });
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "darkroom-bench-"));
  const children = [];
  const cleanup = () => {
    for (const c of children) c.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  try {
    // A reference server from inline source; resolves to its URL once it answers.
    const startReference = async (source) => {
      const refPort = await freePort();
      children.push(
        spawn(process.execPath, ["-e", source], {
          cwd: root,
          env: { ...process.env, PORT: String(refPort), BODY: BARE_BODY },
          stdio: "inherit",
        }),
      );
      const url = `http://127.0.0.1:${refPort}`;
      await waitUp(url);
      return url;
    };
    const bare = await startReference(BARE_SERVER);
    const batched = await startReference(BATCHED_BARE_SERVER);
    const fastify = await startReference(FASTIFY_SERVER);

    const port = await freePort();
    children.push(
      spawn(process.execPath, [path.join(root, "bin/darkroom.js"), "serve"], {
        env: {
          ...process.env,
          HOST: "127.0.0.1",
          PORT: String(port),
          DARKROOM_DATA_DIR: dataDir,
          DARKROOM_BOOTSTRAP_API_KEY: API_KEY,
          DARKROOM_BOOTSTRAP_CREDITS: "1000000000",
          DARKROOM_RUNNER: "false",
          // Pending tasks pile up here on purpose (no runner): no queue limit (issue 14).
          DARKROOM_QUEUE_MAX_DEPTH: "0",
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "inherit"],
      }),
    );
    const gw = `http://127.0.0.1:${port}`;
    await waitUp(`${gw}/healthz`);
    // The A/B for the fast paths: the same gateway, same database, everything through the
    // framework (DARKROOM_FAST_PATHS=false), measured in the same rounds.
    const slowPort = await freePort();
    children.push(
      spawn(process.execPath, [path.join(root, "bin/darkroom.js"), "serve"], {
        env: {
          ...process.env,
          HOST: "127.0.0.1",
          PORT: String(slowPort),
          DARKROOM_DATA_DIR: dataDir,
          DARKROOM_RUNNER: "false",
          // Pending tasks pile up here on purpose (no runner): no queue limit (issue 14).
          DARKROOM_QUEUE_MAX_DEPTH: "0",
          DARKROOM_WEBHOOKS: "false",
          DARKROOM_FAST_PATHS: "false",
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "inherit"],
      }),
    );
    const gwNoFastPath = `http://127.0.0.1:${slowPort}`;
    await waitUp(`${gwNoFastPath}/healthz`);

    const auth = { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" };
    const submitBody = JSON.stringify({
      model: "doubao-seedream-4.0",
      prompt: "A serene lake reflecting the sunset",
    });
    const first = await fetch(`${gw}/v1/images/generations`, {
      method: "POST",
      headers: auth,
      body: submitBody,
    });
    const taskId = (await first.json()).id;

    // The newest POLL_TASKS tasks (the submissions below create them), polled in turn:
    // what a busy gateway sees, where each client polls its own tasks. Paged by cursor:
    // a page number reaches only the first 1,000 tasks.
    const pollPaths = async () => {
      const paths = [];
      let cursor = null;
      while (paths.length < POLL_TASKS) {
        const after = cursor ? `&cursor=${cursor}` : "";
        const r = await fetch(`${gw}/v1/tasks?page_size=100${after}`, {
          headers: { authorization: auth.authorization },
        });
        if (!r.ok) throw new Error(`GET /v1/tasks: HTTP ${r.status} ${await r.text()}`);
        const { data, next_cursor: next } = await r.json();
        for (const t of data) paths.push(`/v1/tasks/${t.id}`);
        if (!next || data.length === 0) break;
        cursor = next;
      }
      const file = path.join(dataDir, "poll-paths.json");
      writeFileSync(file, JSON.stringify(paths));
      return { file, count: paths.length };
    };

    const [bareChild, batchedChild, fastifyChild, gwChild, gwNoFastPathChild] = children;
    const batchedFloor = (opts) => ({
      name: "bare node:http, answers written per turn",
      pid: batchedChild.pid,
      opts: { url: batched, ...opts },
    });
    const post = { method: "POST", body: submitBody, headers: auth };
    const results = [
      ...(await compare("POST", [
        { name: "bare node:http (floor)", pid: bareChild.pid, opts: { url: bare, ...post } },
        batchedFloor(post),
        {
          name: "bare Fastify (framework ceiling)",
          pid: fastifyChild.pid,
          opts: { url: fastify, ...post },
        },
        {
          name: "Darkroom POST /v1/images/generations",
          pid: gwChild.pid,
          opts: { url: `${gw}/v1/images/generations`, ...post },
        },
        {
          name: "Darkroom POST /v1/images/generations, fast paths off (A/B)",
          pid: gwNoFastPathChild.pid,
          opts: { url: `${gwNoFastPath}/v1/images/generations`, ...post },
        },
      ])),
    ];
    const many = await pollPaths();
    results.push(
      ...(await compare("GET", [
        { name: "bare node:http (floor)", pid: bareChild.pid, opts: { url: bare } },
        batchedFloor({}),
        { name: "bare Fastify (framework ceiling)", pid: fastifyChild.pid, opts: { url: fastify } },
        {
          name: "Darkroom GET /v1/tasks/{id}",
          pid: gwChild.pid,
          opts: { url: `${gw}/v1/tasks/${taskId}`, headers: { authorization: auth.authorization } },
        },
        {
          name: "Darkroom GET /v1/tasks/{id}, fast paths off (A/B)",
          pid: gwNoFastPathChild.pid,
          opts: {
            url: `${gwNoFastPath}/v1/tasks/${taskId}`,
            headers: { authorization: auth.authorization },
          },
        },
        {
          name: `Darkroom GET /v1/tasks/{id}, ${many.count} tasks in turn`,
          pid: gwChild.pid,
          opts: { url: gw, headers: { authorization: auth.authorization }, pathsFile: many.file },
        },
      ])),
    );

    const meta = {
      date: new Date().toISOString(),
      command: `BENCH_ROUNDS=${ROUNDS} BENCH_SECONDS=${SECONDS} BENCH_CONNECTIONS=${CONNECTIONS} npm run bench`,
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
      connections: CONNECTIONS,
      rounds: ROUNDS,
      seconds: SECONDS,
    };
    console.table(results);
    console.log(JSON.stringify(meta, null, 2));
    mkdirSync(path.join(root, "bench/results"), { recursive: true });
    writeFileSync(
      path.join(root, "bench/results/latest.json"),
      JSON.stringify({ meta, results }, null, 2),
    );
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
