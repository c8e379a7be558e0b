#!/usr/bin/env node
// Darkroom on PostgreSQL as a cluster of processes (issue 14; a benchmark, not a test).
//
//   npm run bench:pg-cluster
//   BENCH_TASKS=500 BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_WORKERS=1,2 npm run bench:pg-cluster
//   BENCH_SCENARIOS=workers npm run bench:pg-cluster     # some of api,workers,slow,latency
//
// Every gateway is a process of its own (bin/darkroom.js, built code), on one database
// (BENCH_DATABASE_URL, default the test server), in a schema made for the scenario and
// dropped after it. Four scenarios:
//
// 1. API processes: submissions/s and polls/s with one and with two `api` processes,
//    behind a round-robin TCP proxy (both cases go through it, so it costs them alike),
//    autocannon in a child process, BENCH_CONNECTIONS connections, BENCH_ROUNDS
//    interleaved rounds of BENCH_SECONDS each. Polls walk the newest 10,000 tasks.
// 2. Workers: a backlog of BENCH_TASKS tasks, queued through an `api` process, then
//    worked by 1, 2 and 4 `worker` processes (BENCH_WORKERS) against the Ark emulator,
//    which answers at once (small images: the store is what is measured). Tasks
//    completed per second from the tasks' own times (first claim to last finish), and
//    the workers' CPU per task.
// 2b. Workers against a slow upstream (scenario `slow`): the same, but each generation
//    takes BENCH_SLOW_MS (the emulator's `[ark:delay]`), as real image models take
//    seconds. A worker then runs at most DARKROOM_RUNNER_CONCURRENCY (BENCH_SLOW_CONCURRENCY)
//    tasks at a time, so a process completes about concurrency / latency tasks a second
//    however fast the machine is, and each added worker adds its share: what scaling
//    out is for when the CPU is not the bound. BENCH_SLOW_TASKS tasks per run.
// 3. Enqueue to claim across processes: BENCH_LATENCY_TASKS submissions to an `api`
//    process, one every BENCH_LATENCY_GAP_MS, each claimed by an idle `worker` process
//    woken by LISTEN/NOTIFY; from the tasks table, started_ms − created_ms (the API's
//    clock at submission, the worker's at its claim: one machine, one clock).
//
// The figures are one machine's in one run: read them against each other, not alone.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { ARK_KEY, ARK_MODEL, startArk, writeArkConfig } from "./ark-setup.js";
import { cannonFresh, cpuSeconds, freePort, median, waitUp } from "./lib.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DB_URL = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const TASKS = Number(process.env.BENCH_TASKS || 3000);
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 64);
const WORKERS = (process.env.BENCH_WORKERS || "1,2,4").split(",").map(Number);
const SLOW_MS = Number(process.env.BENCH_SLOW_MS || 1000);
const SLOW_TASKS = Number(process.env.BENCH_SLOW_TASKS || 2000);
const SLOW_CONCURRENCY = Number(process.env.BENCH_SLOW_CONCURRENCY || 64);
const LATENCY_TASKS = Number(process.env.BENCH_LATENCY_TASKS || 200);
const LATENCY_GAP_MS = Number(process.env.BENCH_LATENCY_GAP_MS || 20);
// Extra node flags for every gateway process (for example --cpu-prof --cpu-prof-dir=/tmp/prof).
const NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS || "").split(" ").filter(Boolean);
const SCENARIOS = (process.env.BENCH_SCENARIOS || "api,workers,slow,latency").split(",");
const POLL_PATHS = 10_000;
const API_KEY = "sk-bench" + "0".repeat(40);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null;
};
const round1 = (x) => (x === null ? null : Math.round(x * 10) / 10);

const scratch = mkdtempSync(path.join(os.tmpdir(), "darkroom-pg-cluster-"));
const children = new Set();
const admin = new pg.Client({ connectionString: DB_URL });
const schemas = new Set();

async function cleanup() {
  for (const c of children) c.kill("SIGKILL");
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
  await admin.end().catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
}

/** A fresh schema, dropped at the end (or by drop()). */
async function freshSchema(tag) {
  const schema = `bench_${tag}_${randomBytes(3).toString("hex")}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  schemas.add(schema);
  return {
    schema,
    url: `${DB_URL}${DB_URL.includes("?") ? "&" : "?"}options=-c%20search_path%3D${schema}`,
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      schemas.delete(schema);
    },
  };
}

/** Rows of `sql` run in `schema` (schema-qualified through search_path, then reset). */
async function inSchema(schema, sql, params = []) {
  await admin.query(`SET search_path TO ${schema}`);
  try {
    return (await admin.query(sql, params)).rows;
  } finally {
    await admin.query(`RESET search_path`);
  }
}

/** A gateway process on `db` in `role` (api | worker); resolves once healthy. */
async function gateway(db, role, configFile, dataDir, extraEnv = {}) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...NODE_ARGS, path.join(root, "bin/darkroom.js"), "serve"],
    {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: db.url,
        DARKROOM_DATA_DIR: dataDir,
        DARKROOM_CONFIG: configFile,
        DARKROOM_ROLE: role,
        ARK_API_KEY: ARK_KEY,
        DARKROOM_BOOTSTRAP_API_KEY: API_KEY,
        DARKROOM_BOOTSTRAP_CREDITS: "1000000000",
        // The backlog is queued before the workers start: no queue limit.
        DARKROOM_QUEUE_MAX_DEPTH: "0",
        DARKROOM_WEBHOOKS: "false",
        LOG_LEVEL: "warn",
        ...extraEnv,
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  // Several starting at once on a loaded machine may take a while.
  await waitUp(`${url}/healthz`, 120_000);
  return {
    url,
    port,
    pid: child.pid,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      children.delete(child);
    },
  };
}

/** A TCP proxy handing each new connection to the next of `ports` in turn. */
async function roundRobin(ports) {
  let next = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(ports[next++ % ports.length], "127.0.0.1");
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream).pipe(client);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

const auth = { authorization: `Bearer ${API_KEY}` };
const submitBody = (prompt) => JSON.stringify({ model: ARK_MODEL, prompt, size: "1024x1024" });

async function submit(url, prompt) {
  const r = await fetch(`${url}/v1/images/generations`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: submitBody(prompt),
  });
  if (r.status !== 200) throw new Error(`submission: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).id;
}

/** Submits `count` tasks, 32 at a time. */
async function submitBacklog(url, tag, count, directive = "") {
  let next = 0;
  const worker = async () => {
    while (next < count) await submit(url, `${directive}${tag} #${next++}`);
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

// 1. One and two API processes.
async function apiScenario(configFile) {
  const db = await freshSchema("api");
  const dataDir = mkdtempSync(path.join(scratch, "api-"));
  // The first process migrates and bootstraps; the second finds it done.
  const first = await gateway(db, "api", configFile, dataDir);
  const second = await gateway(db, "api", configFile, dataDir);
  const proxies = {
    1: await roundRobin([first.port]),
    2: await roundRobin([first.port, second.port]),
  };
  const pathsFile = path.join(scratch, "poll-paths.json");
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = {};
    for (const n of round % 2 ? [2, 1] : [1, 2]) {
      const pids = n === 1 ? [first.pid] : [first.pid, second.pid];
      const cpu0 = pids.map(cpuSeconds);
      const post = await cannonFresh({
        url: `${proxies[n].url}/v1/images/generations`,
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: submitBody("a lake at dawn"),
        connections: CONNECTIONS,
        duration: SECONDS,
      });
      const cpu1 = pids.map(cpuSeconds);
      const ids = await inSchema(
        db.schema,
        `SELECT id FROM tasks ORDER BY created_ms DESC LIMIT ${POLL_PATHS}`,
      );
      writeFileSync(pathsFile, JSON.stringify(ids.map((t) => `/v1/tasks/${t.id}`)));
      const get = await cannonFresh({
        url: proxies[n].url,
        headers: auth,
        pathsFile,
        connections: CONNECTIONS,
        duration: SECONDS,
      });
      const cpu2 = pids.map(cpuSeconds);
      const cpuUs = (a, b, reqs) =>
        a.includes(null) ? null : round1(((sum(b) - sum(a)) * 1e6) / Math.max(1, reqs));
      r[n] = {
        post: post.requests.average,
        post_p50: post.latency.p50,
        post_p99: post.latency.p99,
        post_cpu_us: cpuUs(cpu0, cpu1, post.requests.total),
        get: get.requests.average,
        get_p50: get.latency.p50,
        get_p99: get.latency.p99,
        get_cpu_us: cpuUs(cpu1, cpu2, get.requests.total),
        bad: post.non2xx + get.non2xx + post.errors + get.errors,
      };
    }
    rounds.push(r);
  }
  for (const p of Object.values(proxies)) await p.close();
  await second.stop();
  await first.stop();
  await db.drop();
  const pick = (n, k) => median(rounds.map((r) => r[n][k]));
  const rows = [];
  for (const n of [1, 2])
    for (const [kind, k] of [
      ["POST /v1/images/generations", "post"],
      ["GET /v1/tasks/{id}", "get"],
    ])
      rows.push({
        api_processes: n,
        request: kind,
        requests_per_s: Math.round(pick(n, k)),
        p50_ms: pick(n, `${k}_p50`),
        p99_ms: pick(n, `${k}_p99`),
        api_cpu_us_per_req: pick(n, `${k}_cpu_us`),
        vs_one_process:
          n === 1 ? "" : `${Math.round(median(rounds.map((r) => r[2][k] / r[1][k])) * 100)}%`,
        rounds: rounds.map((r) => Math.round(r[n][k])).join(" / "),
        non2xx_or_errors: rounds.reduce((a, r) => a + r[n].bad, 0),
      });
  return rows;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

// 2. A backlog worked by 1, 2, 4 worker processes; `slow`: each generation takes
// SLOW_MS and a worker runs SLOW_CONCURRENCY at a time.
async function workerScenario(configFile, workers, slow = false) {
  const tag = `${slow ? "s" : "w"}${workers}`;
  const db = await freshSchema(tag);
  const dataDir = mkdtempSync(path.join(scratch, `workers-${tag}-`));
  const api = await gateway(db, "api", configFile, dataDir);
  await submitBacklog(
    api.url,
    `backlog${tag}`,
    slow ? SLOW_TASKS : TASKS,
    slow ? `[ark:delay=${SLOW_MS}] ` : "",
  );
  const workerEnv = slow ? { DARKROOM_RUNNER_CONCURRENCY: String(SLOW_CONCURRENCY) } : {};
  const started = await Promise.all(
    Array.from({ length: workers }, () => gateway(db, "worker", configFile, dataDir, workerEnv)),
  );
  const cpu0 = started.map((w) => cpuSeconds(w.pid));
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const [{ open }] = await inSchema(
      db.schema,
      `SELECT COUNT(*)::int AS open FROM tasks WHERE status IN ('pending', 'processing')`,
    );
    if (open === 0) break;
    if (Date.now() > deadline) throw new Error(`${workers} workers left ${open} tasks in 10 min`);
    await sleep(100);
  }
  const cpu1 = started.map((w) => cpuSeconds(w.pid));
  const failed = await inSchema(
    db.schema,
    `SELECT error_code, left(error_message, 60) AS why, COUNT(*)::int AS n FROM tasks
     WHERE status = 'failed' GROUP BY 1, 2`,
  );
  const [span] = await inSchema(
    db.schema,
    `SELECT COUNT(*)::int AS n, (COUNT(*) FILTER (WHERE status = 'completed'))::int AS completed,
       MIN(started_ms)::float8 AS first, MAX(finished_ms)::float8 AS last FROM tasks`,
  );
  for (const w of started) await w.stop();
  await api.stop();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    worker_processes: workers,
    tasks: span.n,
    completed: span.completed,
    tasks_per_s: Math.round((span.completed / (span.last - span.first)) * 1000),
    worker_cpu_ms_per_task:
      cpu0.includes(null) || cpu1.includes(null)
        ? null
        : round1(((sum(cpu1) - sum(cpu0)) * 1000) / Math.max(1, span.completed)),
    failed: failed.map((f) => `${f.n} ${f.error_code} (${f.why})`).join(", "),
  };
}

// 3. Enqueue (API process) to claim (worker process).
async function latencyScenario(configFile) {
  const db = await freshSchema("lat");
  const dataDir = mkdtempSync(path.join(scratch, "latency-"));
  const api = await gateway(db, "api", configFile, dataDir);
  const worker = await gateway(db, "worker", configFile, dataDir);
  await sleep(500); // the worker's LISTEN connection is up
  for (let i = 0; i < LATENCY_TASKS; i++) {
    await submit(api.url, `latency #${i}`);
    await sleep(LATENCY_GAP_MS);
  }
  for (let tries = 0; ; tries++) {
    const [{ open }] = await inSchema(
      db.schema,
      `SELECT COUNT(*)::int AS open FROM tasks WHERE started_ms IS NULL`,
    );
    if (open === 0) break;
    if (tries > 600) throw new Error(`${open} tasks never claimed`);
    await sleep(100);
  }
  const rows = await inSchema(
    db.schema,
    `SELECT (started_ms - created_ms)::float8 AS ms FROM tasks`,
  );
  await worker.stop();
  await api.stop();
  await db.drop();
  const ms = rows.map((r) => r.ms);
  return {
    tasks: ms.length,
    one_every_ms: LATENCY_GAP_MS,
    enqueue_to_claim_p50_ms: quantile(ms, 0.5),
    enqueue_to_claim_p99_ms: quantile(ms, 0.99),
    max_ms: Math.max(...ms),
  };
}

async function main() {
  await admin.connect();
  const { child: ark, url: arkUrl } = await startArk(root);
  children.add(ark);
  const configFile = writeArkConfig(scratch, arkUrl);

  let api = null;
  if (SCENARIOS.includes("api")) {
    console.log("API processes (round-robin proxy in front of both cases):");
    api = await apiScenario(configFile);
    console.table(api);
  }
  let workers = null;
  if (SCENARIOS.includes("workers")) {
    console.log(`Workers, a backlog of ${TASKS} tasks, zero-latency emulator:`);
    workers = [];
    for (const n of WORKERS) workers.push(await workerScenario(configFile, n));
    console.table(workers);
  }
  let slowWorkers = null;
  if (SCENARIOS.includes("slow")) {
    console.log(
      `Workers, a backlog of ${SLOW_TASKS} tasks, ${SLOW_MS} ms per generation, ${SLOW_CONCURRENCY} tasks at a time per worker:`,
    );
    slowWorkers = [];
    for (const n of WORKERS) {
      const row = await workerScenario(configFile, n, true);
      row.bound_tasks_per_s = Math.round((n * SLOW_CONCURRENCY * 1000) / SLOW_MS);
      slowWorkers.push(row);
    }
    console.table(slowWorkers);
  }
  let latency = null;
  if (SCENARIOS.includes("latency")) {
    console.log("Enqueue in an API process → claim in a worker process:");
    latency = await latencyScenario(configFile);
    console.table([latency]);
  }

  const meta = {
    date: new Date().toISOString(),
    command: `BENCH_TASKS=${TASKS} BENCH_SECONDS=${SECONDS} BENCH_ROUNDS=${ROUNDS} BENCH_CONNECTIONS=${CONNECTIONS} BENCH_WORKERS=${WORKERS.join(",")} BENCH_SLOW_MS=${SLOW_MS} BENCH_SLOW_TASKS=${SLOW_TASKS} BENCH_SLOW_CONCURRENCY=${SLOW_CONCURRENCY} BENCH_LATENCY_TASKS=${LATENCY_TASKS} BENCH_SCENARIOS=${SCENARIOS.join(",")} npm run bench:pg-cluster`,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    load_average: os.loadavg().map((x) => Math.round(x * 10) / 10),
  };
  console.log(JSON.stringify(meta, null, 2));
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(
    path.join(root, "bench/results/pg-cluster.json"),
    JSON.stringify({ meta, api, workers, slow_workers: slowWorkers, latency }, null, 2),
  );
}

main()
  .then(cleanup, async (e) => {
    console.error(e);
    await cleanup();
    process.exitCode = 1;
  })
  .then(() => process.exit());
