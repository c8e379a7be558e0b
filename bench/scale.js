#!/usr/bin/env node
// Scale benchmark (issue 13; not a test): the same requests on a store of 10 thousand,
// 1 million and 10 million tasks, in one run. Target: every figure within 10 % of the
// 10,000-task one, and the event loop's delay p99 under a few milliseconds throughout.
//
//   npm run bench:scale                                  # 10k, 1M, 10M (~20 min, ~20 GB in /tmp)
//   BENCH_SCALE_SIZES=10000,1000000 npm run bench:scale  # a quicker pair
//   BENCH_SECONDS=5 BENCH_CONNECTIONS=64 BENCH_ROUNDS=3 npm run bench:scale
//
// The gateway starts once on a fresh data dir (its migrations make the schema, its
// bootstrap the benchmark's account and key) and stops; then, for each size, the store
// is grown in bulk to that many tasks with better-sqlite3 directly (bench/scale-fill.js:
// finished tasks with their ledger entries, callbacks and idempotency keys, 80 % of them
// in the benchmark's account and the rest over 1,000 others), and the gateway is started
// again on it (runner off: an API-only process) and measured:
//
// - the start: from spawn to the first healthy GET /healthz, and the CPU time it took
//   (three starts, the median);
// - polls (GET /v1/tasks/{id}) over BENCH_POLL_TASKS tasks spread over the big
//   account's whole history; GET /v1/tasks page 1; a deep page (the keyset cursor
//   90 % into the big account's history); submissions (last: they add tasks). Each in
//   BENCH_ROUNDS interleaved rounds of BENCH_SECONDS with the bare node:http floor, as
//   bench/run.js does, so a drifting machine shows in the floor's column too;
// - the event loop's delay during each measurement (bench/loop-probe.js, preloaded),
//   and the worst 10 s window GET /admin/v1/status reported meanwhile;
// - one request at a time: page 1, the deep page by cursor and by page number;
// - the database's bytes per task (file + WAL, after the fill), the gateway's RSS.
//
// At the smallest size the gateway's own GET /admin/v1/ledger/check vouches for the
// fill's balances. The tasks a measurement submitted are removed before the next fill
// (bench/scale-fill.js removeSubmitted), so each size is measured on exactly its filled
// tasks. Results: console tables (each size, and each figure's ratio to the smallest
// size) and bench/results/scale-latest.json (not committed).
import { spawn } from "node:child_process";
import { once as eventOnce } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { encodeTaskCursor } from "../dist/core/task-cursor.js";
import {
  BARE_BODY,
  BARE_SERVER,
  cannonFresh,
  cpuSeconds,
  freePort,
  median,
  waitUp,
} from "./lib.js";
import { ScaleFill } from "./scale-fill.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SIZES = (process.env.BENCH_SCALE_SIZES || "10000,1000000,10000000")
  .split(",")
  .map(Number)
  .sort((a, b) => a - b);
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const POLL_TASKS = Number(process.env.BENCH_POLL_TASKS || 10_000);
const ACCOUNTS = 1000;
const BIG_SHARE = 0.8;
const SPAN_MS = 120 * 86_400_000; // the largest size's history: four months
const DEEP = 0.9;
const API_KEY = "sk-bench" + "0".repeat(40);
const ADMIN = "dra-bench-admin-token-000000000000000000";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (b) => Math.round(b / 2 ** 20);
const short = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
const log = (...a) => console.error(`[scale ${new Date().toISOString().slice(11, 19)}]`, ...a);

const dataDir = mkdtempSync(path.join(os.tmpdir(), "darkroom-scale-"));
const dbFile = path.join(dataDir, "darkroom.sqlite");
const loopFile = path.join(dataDir, "loop.jsonl");
const children = new Set();
let floorChild; // the bare node:http floor, measured in every round
let floorUrl;
const cleanup = () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

function procStatus(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (k) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) * 1024;
    return { rss: kib("VmRSS"), peak: kib("VmHWM") };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

function fileBytes(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Starts the gateway on the data dir; resolves once /healthz answers, with the time taken. */
async function startGateway() {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      "--import",
      pathToFileURL(path.join(root, "bench/loop-probe.js")).href,
      path.join(root, "bin/darkroom.js"),
      "serve",
    ],
    {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        DARKROOM_DATA_DIR: dataDir,
        DARKROOM_BOOTSTRAP_API_KEY: API_KEY,
        DARKROOM_BOOTSTRAP_CREDITS: "1000000000",
        DARKROOM_ADMIN_TOKEN: ADMIN,
        DARKROOM_RUNNER: "false",
        LOG_LEVEL: "warn",
        BENCH_LOOP_FILE: loopFile,
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode})`);
    if (performance.now() - t0 > 120_000) throw new Error("the gateway did not come up");
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    await sleep(10);
  }
  // CPU time to healthy as well: unlike the wall time, it hardly moves when other work
  // shares the machine.
  const startCpuS = cpuSeconds(child.pid);
  return { child, url, pid: child.pid, startS: (performance.now() - t0) / 1000, startCpuS };
}

async function stopGateway(g) {
  const exited = eventOnce(g.child, "exit");
  g.child.kill("SIGTERM");
  const timer = setTimeout(() => g.child.kill("SIGKILL"), 120_000);
  await exited;
  clearTimeout(timer);
  children.delete(g.child);
}

/**
 * The delay since the last call, from the probe preloaded into the gateway. A gateway
 * busy with a long queue of slow requests answers the signal only after them.
 */
async function loopDelay(pid) {
  const before = fileBytes(loopFile);
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + 600_000;
  while (fileBytes(loopFile) === before) {
    if (Date.now() > deadline) throw new Error("the gateway's loop probe did not answer");
    await sleep(10);
  }
  const lines = readFileSync(loopFile, "utf8").trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Waits until the gateway answers at once again (a slow scenario may leave a queue). */
async function settle(url) {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const t = performance.now();
    try {
      await (await fetch(`${url}/healthz`)).arrayBuffer();
    } catch {
      // keep trying
    }
    if (performance.now() - t < 50) return;
    await sleep(200);
  }
}

/** The worst 10 s window of GET /admin/v1/status seen while `during` runs. */
async function statusWindows(url, during) {
  const seen = new Map();
  let stop = false;
  const sampler = (async () => {
    while (!stop) {
      try {
        const r = await fetch(`${url}/admin/v1/status`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        const s = await r.json();
        const w = s.event_loop_delay.last_window;
        if (w) seen.set(JSON.stringify(w), w);
        seen.maxSinceStart = s.event_loop_delay.max_since_start_ms;
      } catch {
        // the gateway is busy; the next sample will do
      }
      await sleep(2000);
    }
  })();
  const result = await during();
  stop = true;
  await sampler;
  const windows = [...seen.values()];
  return {
    result,
    windows: windows.length,
    worstP99: windows.length ? Math.max(...windows.map((w) => w.p99_ms)) : null,
    maxSinceStart: seen.maxSinceStart ?? null,
  };
}

async function measure(target, url) {
  const before = cpuSeconds(target.pid);
  if (target.gateway) await loopDelay(target.pid); // starts the probe's window
  const r = await cannonFresh({ connections: CONNECTIONS, duration: SECONDS, ...target.opts });
  const after = cpuSeconds(target.pid);
  const loop = target.gateway ? await loopDelay(target.pid) : null;
  if (target.gateway) await settle(url);
  return {
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    cpuUs:
      before === null || after === null || r.requests.total === 0
        ? null
        : Math.round(((after - before) * 1e7) / r.requests.total) / 10,
    loopP99: loop?.p99_ms ?? null,
    loopMax: loop?.max_ms ?? null,
    bad: r.non2xx + r.errors + r.timeouts,
  };
}

/**
 * Warm-up (2 s each, not measured), then ROUNDS rounds over `targets`, the order
 * reversed every other round; per target, the median round, and the median of its
 * per-round ratio to the floor (targets[0]).
 */
async function rounds(targets, url) {
  for (const t of targets) {
    await cannonFresh({ connections: CONNECTIONS, duration: 2, ...t.opts });
    if (t.gateway) await settle(url);
  }
  const runs = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) runs[i].push(await measure(targets[i], url));
  }
  const out = {};
  targets.forEach((t, i) => {
    const rs = runs[i];
    const pick = (k) => (rs.some((r) => r[k] === null) ? null : median(rs.map((r) => r[k])));
    out[t.name] = {
      rps: Math.round(median(rs.map((r) => r.rps))),
      p50: pick("p50"),
      p99: pick("p99"),
      cpuUs: pick("cpuUs"),
      vsFloor: i === 0 ? null : median(rs.map((r, k) => r.rps / runs[0][k].rps)),
      loopP99: t.gateway ? Math.max(...rs.map((r) => r.loopP99)) : null,
      loopMax: t.gateway ? Math.max(...rs.map((r) => r.loopMax)) : null,
      bad: rs.reduce((a, r) => a + r.bad, 0),
      rounds: rs.map((r) => r.rps).join(" / "),
    };
  });
  return out;
}

/** One request at a time: the median of 3 (or 1 if it takes over 1 s), in ms, and the answer. */
async function lone(url) {
  const times = [];
  let body = null;
  for (let i = 0; i < 3 && !(times[0] > 1000); i++) {
    const t = performance.now();
    const r = await fetch(url, { headers: { authorization: `Bearer ${API_KEY}` } });
    body = await r.json();
    times.push(performance.now() - t);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${JSON.stringify(body)}`);
  }
  return { ms: Math.round(median(times) * 10) / 10, body };
}

/** The database's bytes by kind of row, per task (dbstat), or null without dbstat. */
function breakdown(fill) {
  const sizes = fill.sizes();
  if (!sizes) return null;
  const group = (name) =>
    name.startsWith("ledger")
      ? "ledger"
      : name.startsWith("webhook")
        ? "webhooks"
        : name.includes("idempotency")
          ? "idempotency"
          : name === "tasks" || name === "sqlite_autoindex_tasks_1"
            ? "tasks (rows + id)"
            : name.startsWith("tasks_")
              ? "tasks' other indexes"
              : "other";
  const out = {};
  for (const { name, bytes } of sizes) out[group(name)] = (out[group(name)] ?? 0) + bytes;
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] / fill.tasks);
  return out;
}

async function measureSize(size, fill, filled) {
  const deep = fill.positionAt(DEEP);
  const bigTasks = fill.bigTasks;
  const ids = [...fill.sample];
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const pathsFile = path.join(dataDir, "poll-paths.json");
  writeFileSync(pathsFile, JSON.stringify(ids.map((id) => `/v1/tasks/${id}`)));
  const t = performance.now();
  const bytesBy = breakdown(fill);
  const breakdownS = (performance.now() - t) / 1000;
  fill.close();
  const dbBytes = fileBytes(dbFile) + fileBytes(`${dbFile}-wal`);

  // Three starts (the first right after the fill); the third gateway is measured.
  const starts = [];
  const startsCpu = [];
  let g;
  for (let i = 0; i < 3; i++) {
    if (g) await stopGateway(g);
    g = await startGateway();
    starts.push(g.startS);
    startsCpu.push(g.startCpuS);
  }
  const idle = procStatus(g.pid);
  log(`${short(size)}: healthy after ${starts.map((s) => s.toFixed(2)).join(", ")} s; measuring`);
  const auth = { authorization: `Bearer ${API_KEY}` };
  // The fill's own check, at the smallest size (it reads the whole ledger): what the
  // gateway's GET /admin/v1/ledger/check says of the balances and settlements.
  let ledger = null;
  if (size === SIZES[0]) {
    const r = await fetch(`${g.url}/admin/v1/ledger/check`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    ledger = await r.json();
    if (!ledger.consistent) log("the filled ledger is not consistent:", JSON.stringify(ledger));
  }
  const loadBefore = os.loadavg().map((l) => Math.round(l * 10) / 10);
  const cursor = encodeTaskCursor(deep);
  const deepPage = Math.floor((bigTasks * DEEP) / 20) + 1;
  const page1 = await lone(`${g.url}/v1/tasks`);
  const deepByCursor = await lone(`${g.url}/v1/tasks?cursor=${cursor}`);
  const deepByPage = await lone(`${g.url}/v1/tasks?page=${deepPage}`);
  // Until the listing takes `cursor`, the gateway ignores it and answers page 1.
  const cursorHonoured = deepByCursor.body.data[0]?.id !== page1.body.data[0]?.id;

  const gw = (name, opts) => ({
    name,
    pid: g.pid,
    gateway: true,
    opts: { headers: auth, ...opts },
  });
  const status = await statusWindows(g.url, async () => {
    const reads = await rounds(
      [
        { name: "floor", pid: floorChild.pid, opts: { url: floorUrl } },
        gw("poll", { url: g.url, pathsFile }),
        gw("list page 1", { url: `${g.url}/v1/tasks` }),
        gw("deep page (cursor)", { url: `${g.url}/v1/tasks?cursor=${cursor}` }),
      ],
      g.url,
    );
    const post = {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ model: "doubao-seedream-4.0", prompt: "A serene lake at sunset" }),
    };
    const writes = await rounds(
      [
        { name: "floor POST", pid: floorChild.pid, opts: { url: floorUrl, ...post } },
        gw("submit", { url: `${g.url}/v1/images/generations`, ...post }),
      ],
      g.url,
    );
    return { ...reads, ...writes };
  });
  const peak = procStatus(g.pid);
  await stopGateway(g);
  return {
    tasks: size,
    big_account_tasks: bigTasks,
    fill_s: Math.round(filled.seconds * 10) / 10,
    fill_tasks_per_s: Math.round(filled.tasks / filled.seconds),
    db_bytes: dbBytes,
    bytes_per_task: Math.round(dbBytes / size),
    bytes_per_task_by_kind: bytesBy,
    breakdown_s: Math.round(breakdownS * 10) / 10,
    start_s: Math.round(median(starts) * 1000) / 1000,
    starts_s: starts.map((s) => Math.round(s * 1000) / 1000),
    start_cpu_s: median(startsCpu),
    ledger_check: ledger,
    loadavg_before: loadBefore,
    loadavg_after: os.loadavg().map((l) => Math.round(l * 10) / 10),
    rss_idle_mib: mib(idle.rss),
    rss_peak_mib: mib(peak.peak),
    lone_ms: { page1: page1.ms, deep_cursor: deepByCursor.ms, deep_page_number: deepByPage.ms },
    deep_page: { cursor, page: deepPage, position: deep },
    cursor_honoured: cursorHonoured,
    status_worst_window_p99_ms: status.worstP99,
    status_windows: status.windows,
    status_max_since_start_ms: status.maxSinceStart,
    scenarios: status.result,
  };
}

/** Rows of `metric | <size> | <size> ...` and the same as ratios to the first size. */
function tables(results) {
  const cols = results.map((r) => short(r.tasks));
  const metrics = [
    ["fill (this step) s", (r) => r.fill_s],
    ["start to healthy s (median of 3)", (r) => r.start_s],
    ["start, CPU s", (r) => r.start_cpu_s],
    ["bytes per task", (r) => r.bytes_per_task],
    ["RSS idle MiB", (r) => r.rss_idle_mib],
    ["RSS peak MiB", (r) => r.rss_peak_mib],
    ["load average (1 min) before", (r) => r.loadavg_before[0]],
  ];
  for (const s of ["submit", "poll", "list page 1", "deep page (cursor)"]) {
    metrics.push([`${s} req/s`, (r) => r.scenarios[s].rps]);
    metrics.push([`${s} vs floor`, (r) => Math.round(r.scenarios[s].vsFloor * 100) / 100]);
    metrics.push([`${s} p50 ms`, (r) => r.scenarios[s].p50]);
    metrics.push([`${s} p99 ms`, (r) => r.scenarios[s].p99]);
    metrics.push([`${s} CPU µs/req`, (r) => r.scenarios[s].cpuUs]);
    metrics.push([`${s} loop p99 ms`, (r) => r.scenarios[s].loopP99]);
    metrics.push([`${s} loop max ms`, (r) => r.scenarios[s].loopMax]);
  }
  metrics.push(["status: worst 10 s p99 ms", (r) => r.status_worst_window_p99_ms]);
  metrics.push(["floor GET req/s", (r) => r.scenarios.floor.rps]);
  metrics.push(["lone page 1 ms", (r) => r.lone_ms.page1]);
  metrics.push(["lone deep, cursor ms", (r) => r.lone_ms.deep_cursor]);
  metrics.push(["lone deep, page= ms", (r) => r.lone_ms.deep_page_number]);
  metrics.push(["errors + non-2xx", (r) => gatewayRows(r).reduce((a, s) => a + s.bad, 0)]);
  const values = metrics.map(([name, f]) => ({
    metric: name,
    ...Object.fromEntries(results.map((r, i) => [cols[i], f(r)])),
  }));
  // Not figures to keep flat: the fill's step and the machine's load.
  const noRatio = new Set(["fill (this step) s", "load average (1 min) before"]);
  const ratios = values
    .filter((v) => !noRatio.has(v.metric) && typeof v[cols[0]] === "number" && v[cols[0]] !== 0)
    .map((v) => ({
      metric: v.metric,
      ...Object.fromEntries(
        cols
          .slice(1)
          .map((c) => [`${c} / ${cols[0]}`, `${Math.round((v[c] / v[cols[0]]) * 100)}%`]),
      ),
    }));
  return { values, ratios };
}

const gatewayRows = (r) =>
  ["submit", "poll", "list page 1", "deep page (cursor)"].map((s) => r.scenarios[s]);

async function main() {
  log(`data dir ${dataDir}; sizes ${SIZES.map(short).join(", ")}`);
  const floorPort = await freePort();
  floorChild = spawn(process.execPath, ["-e", BARE_SERVER], {
    env: { ...process.env, PORT: String(floorPort), BODY: BARE_BODY },
    stdio: "inherit",
  });
  children.add(floorChild);
  floorUrl = `http://127.0.0.1:${floorPort}`;
  await waitUp(floorUrl);

  // The schema and the benchmark's account come from the gateway itself.
  await stopGateway(await startGateway());
  const fill = new ScaleFill(dbFile, {
    accounts: ACCOUNTS,
    bigShare: BIG_SHARE,
    maxTasks: SIZES[SIZES.length - 1],
    spanMs: SPAN_MS,
    endMs: Date.now() - 3_600_000,
    sample: POLL_TASKS,
  });
  const results = [];
  for (const size of SIZES) {
    if (results.length) {
      fill.open();
      const removed = fill.removeSubmitted();
      log(`removed the ${removed} tasks the last measurement submitted`);
    }
    const from = fill.tasks;
    log(`filling ${short(from)} → ${short(size)}`);
    const seconds = fill.grow(size, (n) => {
      if (n % 1_000_000 === 0) log(`  ${short(n)} tasks`);
    });
    const filled = { seconds, tasks: size - from };
    log(`filled in ${seconds.toFixed(1)} s (${Math.round(filled.tasks / seconds)} tasks/s)`);
    const r = await measureSize(size, fill, filled);
    results.push(r);
    log(JSON.stringify({ tasks: r.tasks, start_s: r.start_s, bytes_per_task: r.bytes_per_task }));
  }

  const meta = {
    date: new Date().toISOString(),
    command: `BENCH_SCALE_SIZES=${SIZES.join(",")} BENCH_ROUNDS=${ROUNDS} BENCH_SECONDS=${SECONDS} BENCH_CONNECTIONS=${CONNECTIONS} npm run bench:scale`,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    sizes: SIZES,
    rounds: ROUNDS,
    seconds: SECONDS,
    connections: CONNECTIONS,
    accounts: ACCOUNTS + 1,
    big_account_share: BIG_SHARE,
    poll_tasks: POLL_TASKS,
  };
  const { values, ratios } = tables(results);
  console.table(values);
  if (results.length > 1) console.table(ratios);
  console.log(JSON.stringify(meta, null, 2));
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(
    path.join(root, "bench/results/scale-latest.json"),
    JSON.stringify({ meta, results, table: values, ratios }, null, 2),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
