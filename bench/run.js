#!/usr/bin/env node
// Darkroom benchmark (not a test): measures submissions and polls against a bare
// node:http JSON server as the floor, in the same run, on the same machine.
//
//   npm run bench                       # defaults: 64 connections, 10 s per scenario
//   BENCH_SECONDS=20 BENCH_CONNECTIONS=64 npm run bench
//
// Every server runs as a child process, and so does autocannon, a fresh one for each
// scenario (bench/cannon-child.js): no load generator carries state from one scenario
// into the next. The gateway
// runs with the runner off (an API-only process, as in a scaled-out deployment), so
// the figures are the HTTP + durable-write path, not image rendering.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cannonFresh, freePort, waitUp } from "./lib.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 64);
const API_KEY = "sk-bench" + "0".repeat(40);

const BARE_BODY = JSON.stringify({
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

const BARE_SERVER = `
const http = require("node:http");
const body = process.env.BODY;
http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => { res.writeHead(200, { "content-type": "application/json" }); res.end(body); });
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

/** Each scenario gets a short warm-up (JIT, caches) that is not measured. */
async function run(opts) {
  await once(opts, 2);
  return once(opts, SECONDS);
}

function summarise(name, r) {
  return {
    scenario: name,
    requests_per_s: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
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
    const barePort = await freePort();
    children.push(
      spawn(process.execPath, ["-e", BARE_SERVER], {
        env: { ...process.env, PORT: String(barePort), BODY: BARE_BODY },
        stdio: "inherit",
      }),
    );
    const bare = `http://127.0.0.1:${barePort}`;
    await waitUp(bare);

    const fastifyPort = await freePort();
    children.push(
      spawn(process.execPath, ["-e", FASTIFY_SERVER], {
        cwd: root,
        env: { ...process.env, PORT: String(fastifyPort), BODY: BARE_BODY },
        stdio: "inherit",
      }),
    );
    const fastify = `http://127.0.0.1:${fastifyPort}`;
    await waitUp(fastify);

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
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "inherit"],
      }),
    );
    const gw = `http://127.0.0.1:${port}`;
    await waitUp(`${gw}/healthz`);

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

    const results = [];
    const scenario = async (name, opts) => {
      const r = summarise(name, await run(opts));
      results.push(r);
      return r;
    };
    const post = { method: "POST", body: submitBody, headers: auth };
    const floorPost = await scenario("bare node:http (floor), POST", { url: bare, ...post });
    const fastifyPost = await scenario("bare Fastify (framework ceiling), POST", {
      url: fastify,
      ...post,
    });
    const submit = await scenario("POST /v1/images/generations", {
      url: `${gw}/v1/images/generations`,
      ...post,
    });
    const floorGet = await scenario("bare node:http (floor), GET", { url: bare });
    const fastifyGet = await scenario("bare Fastify (framework ceiling), GET", { url: fastify });
    const poll = await scenario("GET /v1/tasks/{id}", {
      url: `${gw}/v1/tasks/${taskId}`,
      headers: { authorization: auth.authorization },
    });
    const pct = (a, b) => `${Math.round((a.requests_per_s / b.requests_per_s) * 100)}%`;
    for (const [r, floor, fw] of [
      [submit, floorPost, fastifyPost],
      [poll, floorGet, fastifyGet],
    ]) {
      r.vs_floor = pct(r, floor);
      r.vs_fastify = pct(r, fw);
    }
    fastifyPost.vs_floor = pct(fastifyPost, floorPost);
    fastifyGet.vs_floor = pct(fastifyGet, floorGet);

    const meta = {
      date: new Date().toISOString(),
      command: `BENCH_SECONDS=${SECONDS} BENCH_CONNECTIONS=${CONNECTIONS} npm run bench`,
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
      connections: CONNECTIONS,
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
