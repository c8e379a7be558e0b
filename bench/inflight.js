#!/usr/bin/env node
// In-flight benchmark (issue 5; not a test): 10,000 tasks held by a slow upstream.
//
//   npm run bench:inflight                 # 10,000 tasks, the Ark emulator holds each 60 s
//   BENCH_TASKS=2000 BENCH_HOLD_MS=20000 npm run bench:inflight
//
// The Ark emulator and Darkroom run as two child processes (each side of 10,000 open
// connections needs its own file-descriptor budget); autocannon runs here. Darkroom is
// configured with one `ark` channel (max_concurrency = tasks) and a runner concurrency
// of the same size, so every task is in flight at once. Reported: Darkroom's RSS before
// and during the hold (and per task), its event-loop delay (from GET /admin/v1/status,
// 10 s windows), poll and submission latency during the hold, and the time from the end
// of the hold until every task shows `completed`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ARK_KEY, startArk, writeArkConfig } from "./ark-setup.js";
import { cannon, freePort, waitUp } from "./lib.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TASKS = Number(process.env.BENCH_TASKS || 10_000);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS || 60_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 64);
const API_KEY = "sk-bench" + "0".repeat(40);
const ADMIN = "dra-bench-admin-token-000000000000000000";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cannonAt = (opts) => cannon({ connections: CONNECTIONS, ...opts });

async function json(url, headers) {
  const r = await fetch(url, { headers });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

const mib = (b) => Math.round((b / 2 ** 20) * 10) / 10;

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "darkroom-inflight-"));
  const children = [];
  const cleanup = () => {
    for (const c of children) c.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.on("exit", cleanup);

  const { child: ark, url: arkUrl } = await startArk(root);
  children.push(ark);

  const configFile = writeArkConfig(dataDir, arkUrl, {
    max_concurrency: TASKS,
    timeout_ms: HOLD_MS * 3,
  });
  const port = await freePort();
  const gw = spawn(process.execPath, [path.join(root, "bin/darkroom.js"), "serve"], {
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      DARKROOM_DATA_DIR: dataDir,
      DARKROOM_CONFIG: configFile,
      ARK_API_KEY: ARK_KEY,
      DARKROOM_BOOTSTRAP_API_KEY: API_KEY,
      DARKROOM_ADMIN_TOKEN: ADMIN,
      DARKROOM_BOOTSTRAP_CREDITS: "1000000000",
      DARKROOM_RUNNER_CONCURRENCY: String(TASKS),
      // BENCH_TASKS may queue more than the default depth at once (issue 14).
      DARKROOM_QUEUE_MAX_DEPTH: "0",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(gw);
  const base = `http://127.0.0.1:${port}`;
  await waitUp(`${base}/healthz`);
  const auth = { authorization: `Bearer ${API_KEY}` };
  const status = () => json(`${base}/admin/v1/status`, { authorization: `Bearer ${ADMIN}` });
  const count = async (s) => (await json(`${base}/v1/tasks?status=${s}&page_size=1`, auth)).total;
  const before = await status();

  // 1. Submit every task (each one held upstream for HOLD_MS).
  const submitBody = JSON.stringify({
    model: "doubao-seedream-4.0",
    prompt: `A lighthouse in a storm [ark:hold=${HOLD_MS}]`,
    size: "1:1",
    quality: "1K",
  });
  const t0 = Date.now();
  const submitted = await cannonAt({
    url: `${base}/v1/images/generations`,
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: submitBody,
    amount: TASKS,
  });
  if (submitted.non2xx > 0) throw new Error(`${submitted.non2xx} submissions were refused`);

  // 2. Wait until every task is in flight upstream.
  let inFlightAt = 0;
  for (;;) {
    const s = await status();
    if (s.runner.in_flight >= TASKS) {
      inFlightAt = Date.now();
      break;
    }
    if (Date.now() - t0 > HOLD_MS) throw new Error(`only ${s.runner.in_flight} in flight`);
    await sleep(200);
  }
  const holdEnds = t0 + HOLD_MS;
  const samples = [];
  const sampler = setInterval(() => void status().then((s) => samples.push(s)), 5_000);

  // 3. During the hold: polls, then a few submissions (those wait as pending).
  const someTask = (await json(`${base}/v1/tasks?status=processing&page_size=1`, auth)).data[0].id;
  const pollSeconds = Math.max(5, Math.min(20, Math.floor((holdEnds - Date.now()) / 1000) - 12));
  const polls = await cannonAt({
    url: `${base}/v1/tasks/${someTask}`,
    headers: auth,
    duration: pollSeconds,
  });
  // A fixed number, so the drain after the hold stays about the held tasks.
  const subsDuring = await cannonAt({
    url: `${base}/v1/images/generations`,
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      model: "doubao-seedream-4.0",
      prompt: "during the hold",
      size: "1:1",
      quality: "1K",
    }),
    amount: 1000,
    connections: 16,
  });
  const during = await status();
  const stillProcessing = await count("processing");
  clearInterval(sampler);

  // 4. After the hold: every task completes.
  const expected = TASKS + subsDuring.requests.total - subsDuring.non2xx - subsDuring.errors;
  let completedAt = 0;
  for (;;) {
    const done = await count("completed");
    if (done >= expected) {
      completedAt = Date.now();
      break;
    }
    if (Date.now() - holdEnds > 10 * 60_000) throw new Error(`only ${done}/${expected} completed`);
    await sleep(250);
  }
  const failed = await count("failed");

  const loop = samples
    .concat([during])
    .map((s) => s.event_loop_delay.last_window)
    .filter(Boolean);
  const rssDuring = Math.max(...samples.concat([during]).map((s) => s.memory.rss_bytes));
  const result = {
    tasks: TASKS,
    hold_ms: HOLD_MS,
    submit_all_s: Math.round((submitted.duration ?? 0) * 10) / 10,
    submit_rps: Math.round(submitted.requests.total / submitted.duration),
    all_in_flight_after_s: Math.round((inFlightAt - t0) / 100) / 10,
    in_flight_during_polls: stillProcessing,
    rss_before_mib: mib(before.memory.rss_bytes),
    rss_during_hold_mib: mib(rssDuring),
    rss_per_task_kib: Math.round(((rssDuring - before.memory.rss_bytes) / TASKS / 1024) * 10) / 10,
    // A hold shorter than one 10 s window of the monitor has no window to report.
    loop_delay_p99_ms_worst_window: loop.length ? Math.max(...loop.map((w) => w.p99_ms)) : "n/a",
    loop_delay_max_ms: loop.length ? Math.max(...loop.map((w) => w.max_ms)) : "n/a",
    poll_rps_during_hold: Math.round(polls.requests.average),
    poll_p50_ms: polls.latency.p50,
    poll_p99_ms: polls.latency.p99,
    poll_non2xx: polls.non2xx,
    submit_rps_during_hold: Math.round(subsDuring.requests.total / subsDuring.duration),
    submit_p99_ms_during_hold: subsDuring.latency.p99,
    all_completed_after_hold_s: Math.round((completedAt - holdEnds) / 100) / 10,
    failed_tasks: failed,
  };
  const meta = {
    date: new Date().toISOString(),
    command: `BENCH_TASKS=${TASKS} BENCH_HOLD_MS=${HOLD_MS} npm run bench:inflight`,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
  };
  console.table(Object.entries(result).map(([k, v]) => ({ metric: k, value: v })));
  console.log(JSON.stringify(meta, null, 2));
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(
    path.join(root, "bench/results/inflight.json"),
    JSON.stringify({ meta, result }, null, 2),
  );
  cleanup();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
