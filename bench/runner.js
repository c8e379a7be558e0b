#!/usr/bin/env node
// The runner benchmark (not a test): one process on SQLite working through a backlog
// against a zero-latency Ark emulator, and what that does to the API beside it.
//
//   npm run bench:runner
//   BENCH_TASKS=3000 BENCH_SECONDS=5 BENCH_ROUNDS=3 npm run bench:runner
//
// Three figures (issue 13's targets in brackets):
// - tasks completed per second from a backlog of BENCH_TASKS [≥ 800/s], from the
//   tasks' own started/finished times, with the gateway's CPU time per task, in a run
//   nothing polls;
// - from the upstream's answer to `completed` seen by a poll [p50 ≤ 5 ms]: the emulator
//   prints when it answered each prompt, and the benchmark polls a sample of tasks
//   every millisecond from then on, during a second backlog and on an unloaded gateway
//   (one task every 20 ms);
// - submissions per second while the runner works through a backlog, against the same
//   gateway with the runner off [≥ 50 %], in interleaved rounds (each with a backlog of
//   its own, large enough to keep the runner busy for the whole measurement); with the
//   runner in the same process on a thread of its own (the default), in the same
//   process on one event loop (DARKROOM_WORKER_THREAD=false), and in a `worker`
//   process beside an `api` one.
// Images are real 1280x720 JPEGs (rendered once by the emulator, then served from memory):
// the gateway downloads, checks and stores each one durably as in production.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { ARK_KEY, startArk, writeArkConfig } from "./ark-setup.js";
import { cannonFresh, cpuSeconds, freePort, median, waitUp } from "./lib.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TASKS = Number(process.env.BENCH_TASKS || 3000);
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 64);
/** Leave unset to measure the gateway's default runner concurrency. */
const CONCURRENCY = process.env.BENCH_RUNNER_CONCURRENCY;
/** Extra node flags for the gateways with a runner (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"). */
const RUNNER_NODE_ARGS = (process.env.BENCH_RUNNER_NODE_ARGS || "").split(" ").filter(Boolean);
/** One task in this many is watched from its answer on, polled every POLL_MS. */
const SAMPLE_EVERY = 50;
const POLL_MS = 1;
/** The unloaded latency: this many tasks, one every TRICKLE_MS. */
const TRICKLE_TASKS = 100;
const TRICKLE_MS = 20;
const API_KEY = "sk-bench" + "0".repeat(40);
const SIZE = "1280x720";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const wallMs = () => performance.timeOrigin + performance.now();

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null;
};
const round1 = (x) => (x === null ? null : Math.round(x * 10) / 10);

async function main() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "darkroom-runner-bench-"));
  const children = new Set();
  const cleanup = () => {
    for (const c of children) c.kill("SIGKILL");
    rmSync(scratch, { recursive: true, force: true });
  };
  process.on("exit", cleanup);

  // The emulator: real 1280x720 JPEGs, and a line for every answer.
  const answered = new Map();
  const answerWaiters = new Map();
  const { child: ark, url: arkUrl } = await startArk(
    root,
    { ARK_RENDER_SIDE: "1280", ARK_ANSWER_LOG: "1" },
    (m) => {
      answered.set(m.answered, m.t);
      answerWaiters.get(m.answered)?.(m.t);
    },
  );
  children.add(ark);

  const configFile = writeArkConfig(scratch, arkUrl);

  /**
   * A gateway on `dataDir`, with or without its runner; resolves once healthy. `role`:
   * DARKROOM_ROLE (a `worker` beside an `api` process on the same data dir).
   */
  async function gateway(dataDir, runner, role = "all", env = {}) {
    const port = await freePort();
    const args = [...(runner ? RUNNER_NODE_ARGS : []), path.join(root, "bin/darkroom.js"), "serve"];
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        DARKROOM_DATA_DIR: dataDir,
        DARKROOM_CONFIG: configFile,
        ARK_API_KEY: ARK_KEY,
        DARKROOM_BOOTSTRAP_API_KEY: API_KEY,
        DARKROOM_BOOTSTRAP_CREDITS: "1000000000",
        DARKROOM_RUNNER: String(runner),
        DARKROOM_ROLE: role,
        // The backlog is queued before the runner starts: no queue limit (issue 14).
        DARKROOM_QUEUE_MAX_DEPTH: "0",
        DARKROOM_WEBHOOKS: "false",
        ...(CONCURRENCY ? { DARKROOM_RUNNER_CONCURRENCY: CONCURRENCY } : {}),
        LOG_LEVEL: "warn",
        ...env,
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.add(child);
    const url = `http://127.0.0.1:${port}`;
    // Ready, not just listening: a worker thread's runner is up too.
    await waitUp(`${url}/readyz`);
    return {
      url,
      pid: child.pid,
      async stop() {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
        children.delete(child);
      },
    };
  }

  const auth = { authorization: `Bearer ${API_KEY}` };
  const submitBody = (prompt) =>
    JSON.stringify({ model: "doubao-seedream-4.0", prompt, size: SIZE });

  /** Submits `count` tasks with prompts `${tag} #i`, 32 at a time; returns their ids by i. */
  async function submitBacklog(url, tag, count) {
    const ids = new Array(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const r = await fetch(`${url}/v1/images/generations`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: submitBody(`${tag} #${i}`),
        });
        if (r.status !== 200)
          throw new Error(`submission ${i}: HTTP ${r.status} ${await r.text()}`);
        ids[i] = (await r.json()).id;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    return ids;
  }

  /** A data dir holding `count` pending tasks, written by a gateway whose runner is off. */
  async function backlogDir(tag, count) {
    const dir = mkdtempSync(path.join(scratch, `${tag}-`));
    const g = await gateway(dir, false);
    const ids = await submitBacklog(g.url, tag, count);
    await g.stop();
    return { dir, ids };
  }

  const taskStatus = async (url, id) => {
    const r = await fetch(`${url}/v1/tasks/${id}`, { headers: auth });
    return (await r.json()).status;
  };

  /**
   * A backlog of TASKS worked through by one gateway: tasks/s from the tasks' own
   * started/finished times, and the gateway's CPU per task. With `watch`, one task in
   * SAMPLE_EVERY is polled every POLL_MS from its answer on, for the latency under the
   * backlog; those polls cost the machine (the benchmark's fetches and the gateway's
   * answers, ~15 % of this 2-core machine in a 3,000-task run), so the throughput comes
   * from a run that is not watched.
   */
  async function workBacklog(tag, watch) {
    const { dir, ids } = await backlogDir(tag, TASKS);
    const g = await gateway(dir, true);
    const cpuBefore = cpuSeconds(g.pid);
    const latencies = [];
    const sampled = [];
    for (let i = 0; watch && i < TASKS; i += SAMPLE_EVERY) {
      const prompt = `${tag} #${i}`;
      sampled.push(
        (async () => {
          const t =
            answered.get(prompt) ?? (await new Promise((r) => answerWaiters.set(prompt, r)));
          for (;;) {
            const status = await taskStatus(g.url, ids[i]);
            if (status === "completed") return void latencies.push(wallMs() - t);
            if (status === "failed") return;
            await sleep(POLL_MS);
          }
        })(),
      );
    }
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const r = await fetch(`${g.url}/v1/tasks?status=pending&page_size=1`, { headers: auth });
      const p = await fetch(`${g.url}/v1/tasks?status=processing&page_size=1`, { headers: auth });
      if ((await r.json()).total + (await p.json()).total === 0) break;
      if (Date.now() > deadline) throw new Error("the backlog did not drain in 10 minutes");
      await sleep(100);
    }
    // A sample whose answer line never came (it should not happen) must not hang the run.
    await Promise.race([Promise.all(sampled), sleep(10_000)]);
    const cpuAfter = cpuSeconds(g.pid);
    await g.stop();
    const db = new Database(path.join(dir, "darkroom.sqlite"), { readonly: true });
    const span = db
      .prepare(
        `SELECT COUNT(*) AS n, SUM(status = 'completed') AS completed, MIN(started_ms) AS first, MAX(finished_ms) AS last FROM tasks`,
      )
      .get();
    db.close();
    return {
      span,
      cpuMsPerTask:
        cpuBefore === null ? null : round1(((cpuAfter - cpuBefore) * 1000) / span.completed),
      latencies,
    };
  }

  // 1. Throughput, unwatched; then the latency under a backlog, watched.
  const work = await workBacklog("throughput", false);
  const watched = await workBacklog("watched", true);
  const throughput = {
    tasks: work.span.n,
    completed: work.span.completed,
    tasks_per_s: Math.round((work.span.completed / (work.span.last - work.span.first)) * 1000),
    cpu_ms_per_task: work.cpuMsPerTask,
    answer_to_completed_p50_ms: round1(quantile(watched.latencies, 0.5)),
    answer_to_completed_p95_ms: round1(quantile(watched.latencies, 0.95)),
    sampled_tasks: watched.latencies.length,
  };
  console.table([throughput]);

  // 2. The same latency on a gateway that is not saturated: one task every TRICKLE_MS,
  // each watched from its answer on. What a client sees most of the time.
  const trickleDir = mkdtempSync(path.join(scratch, "trickle-"));
  const tg = await gateway(trickleDir, true);
  const trickle = [];
  const watching = [];
  for (let i = 0; i < TRICKLE_TASKS; i++) {
    const prompt = `trickle #${i}`;
    const answer = new Promise((r) => answerWaiters.set(prompt, r));
    const r = await fetch(`${tg.url}/v1/images/generations`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: submitBody(prompt),
    });
    const { id } = await r.json();
    watching.push(
      (async () => {
        const t = answered.get(prompt) ?? (await answer);
        for (;;) {
          const status = await taskStatus(tg.url, id);
          if (status === "completed") return void trickle.push(wallMs() - t);
          if (status === "failed") return;
          await sleep(POLL_MS);
        }
      })(),
    );
    await sleep(TRICKLE_MS);
  }
  await Promise.race([Promise.all(watching), sleep(10_000)]);
  await tg.stop();
  const unloaded = {
    tasks: TRICKLE_TASKS,
    one_every_ms: TRICKLE_MS,
    answer_to_completed_p50_ms: round1(quantile(trickle, 0.5)),
    answer_to_completed_p95_ms: round1(quantile(trickle, 0.95)),
    watched: trickle.length,
  };
  console.table([unloaded]);

  // 3. Submissions with the runner off, and while it works through a backlog.
  const rounds = [];
  const backlog = Math.max(TASKS, 1500 * (SECONDS + 2));
  for (let round = 0; round < ROUNDS; round++) {
    // "busy": one process, its runner on a thread of its own (the default); "loop": one
    // process, one event loop (DARKROOM_WORKER_THREAD=false); "split": a worker process
    // beside an API process.
    const kinds = ["off", "busy", "loop", "split"];
    const order = round % 2 ? [...kinds].reverse() : kinds;
    const r = {};
    for (const kind of order) {
      const prepared =
        kind === "off"
          ? { dir: mkdtempSync(path.join(scratch, "off-")) }
          : await backlogDir(`${kind}${round}`, backlog);
      const gw = await gateway(
        prepared.dir,
        kind === "busy" || kind === "loop",
        "all",
        kind === "loop" ? { DARKROOM_WORKER_THREAD: "false" } : {},
      );
      const worker = kind === "split" ? await gateway(prepared.dir, true, "worker") : null;
      const before = cpuSeconds(gw.pid);
      const res = await cannonFresh({
        url: `${gw.url}/v1/images/generations`,
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: submitBody("while the runner works"),
        connections: CONNECTIONS,
        duration: SECONDS,
      });
      const after = cpuSeconds(gw.pid);
      const left =
        kind !== "off"
          ? (
              await (
                await fetch(`${gw.url}/v1/tasks?status=pending&page_size=1`, { headers: auth })
              ).json()
            ).total
          : null;
      await worker?.stop();
      await gw.stop();
      r[kind] = {
        rps: Math.round(res.requests.average),
        p50: res.latency.p50,
        p99: res.latency.p99,
        cpu_us: before === null ? null : round1(((after - before) * 1e6) / res.requests.total),
        non2xx: res.non2xx,
        pending_left: left,
      };
      rmSync(prepared.dir, { recursive: true, force: true });
    }
    rounds.push(r);
  }
  const pick = (kind, key) => median(rounds.map((r) => r[kind][key]));
  if (ROUNDS > 0) console.log("submissions:");
  const scenario = {
    off: "submissions, runner off",
    busy: "submissions, runner busy (one process, worker thread)",
    loop: "submissions, runner busy (one process, one event loop)",
    split: "submissions, runner busy (api + worker processes)",
  };
  const submissions = ["off", "busy", "loop", "split"].map((kind) => ({
    scenario: scenario[kind],
    requests_per_s: Math.round(pick(kind, "rps")),
    p50_ms: pick(kind, "p50"),
    p99_ms: pick(kind, "p99"),
    cpu_us_per_req: pick(kind, "cpu_us"),
    vs_runner_off:
      kind === "off"
        ? ""
        : `${Math.round(median(rounds.map((r) => r[kind].rps / r.off.rps)) * 100)}%`,
    non2xx: rounds.reduce((a, r) => a + r[kind].non2xx, 0),
    rounds: rounds.map((r) => r[kind].rps).join(" / "),
    backlog_left: kind === "off" ? "" : rounds.map((r) => r[kind].pending_left).join(" / "),
  }));
  if (ROUNDS > 0) console.table(submissions);

  const meta = {
    date: new Date().toISOString(),
    command: `BENCH_TASKS=${TASKS} BENCH_SECONDS=${SECONDS} BENCH_ROUNDS=${ROUNDS} BENCH_CONNECTIONS=${CONNECTIONS}${CONCURRENCY ? ` BENCH_RUNNER_CONCURRENCY=${CONCURRENCY}` : ""} npm run bench:runner`,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    backlog_per_busy_round: backlog,
  };
  console.log(JSON.stringify(meta, null, 2));
  mkdirSync(path.join(root, "bench/results"), { recursive: true });
  writeFileSync(
    path.join(root, "bench/results/runner.json"),
    JSON.stringify({ meta, throughput, unloaded, submissions }, null, 2),
  );
  cleanup();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
