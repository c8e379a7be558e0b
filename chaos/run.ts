/**
 * One chaos run (issue 14): API and worker processes on a fresh PostgreSQL schema, the
 * emulated upstreams behind per-channel fault injectors, a callback receiver that
 * misbehaves, clients submitting with Idempotency-Keys, and a monkey that SIGKILLs
 * workers and API processes at random and restarts them. When every task is terminal
 * and every callback settled, the processes stop and check.ts gives the verdict.
 *
 * Used by `npm run chaos` (chaos/main.ts, the long run against the built server) and by
 * test/chaos/cluster.test.ts (a short run from the sources).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { FsStorage } from "../src/media/fs-storage.js";
import { DEFAULT_RETENTION, Janitor } from "../src/retention/janitor.js";
import { openStore } from "../src/store/open.js";
import { startArkEmulator } from "../test/emulators/ark.js";
import { startOpenAIEmulator } from "../test/emulators/openai.js";
import { checkRun, listFiles, type CheckResult, type Submission } from "./check.js";
import { runClients, type ClientAccount } from "./clients.js";
import { freePort, Proc, type ServeCommand } from "./cluster.js";
import { startReceiver, type ReceiverRates } from "./receiver.js";
import {
  startFaultProxy,
  type FaultProxy,
  type FaultRates,
  type UpstreamKind,
} from "./upstream-faults.js";

export interface ChaosOptions {
  /** How each `darkroom serve` is started. */
  command: ServeCommand;
  /** A PostgreSQL database the run may create a schema in (and drop it after). */
  databaseUrl: string;
  tasks: number;
  apis: number;
  workers: number;
  /** Accounts, one client each. */
  clients: number;
  /** Submissions in flight per client. */
  concurrency: number;
  workerKills: number;
  apiKills: number;
  /** Submissions killed after commit and before their answer. */
  crashes: number;
  /** Random pause between two kills. */
  killGapMs: [number, number];
  /** How long a killed process stays down. */
  downMs: [number, number];
  faults: FaultRates;
  receiver: ReceiverRates;
  channelTimeoutMs: number;
  leaseSeconds: number;
  /** After the submissions: how long tasks and callbacks may take to settle. */
  settleTimeoutMs: number;
  /** Keep the run's folder and schema (they are kept anyway when a check fails). */
  keep: boolean;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS: Omit<ChaosOptions, "command" | "databaseUrl" | "log"> = {
  tasks: 3000,
  apis: 2,
  workers: 3,
  clients: 4,
  concurrency: 6,
  workerKills: 12,
  apiKills: 3,
  crashes: 5,
  killGapMs: [2000, 6000],
  downMs: [300, 2500],
  faults: { rateLimited: 0.04, serverError: 0.05, timeout: 0.005, maxDelayMs: 300 },
  receiver: { fail: 0.1, hang: 0.01 },
  channelTimeoutMs: 15_000,
  leaseSeconds: 4,
  settleTimeoutMs: 300_000,
  keep: false,
};

export interface ChaosReport extends CheckResult {
  durationMs: number;
  kills: { worker: number; api: number; crashAfterCommit: number };
  submissions: {
    total: number;
    answered: number;
    replayedAfterCrash: number;
    refused: number;
    lost: number;
    /** Why the submissions not answered were not, by reason. */
    why: Record<string, number>;
  };
  upstreamFaults: Record<string, number>;
  leftoversSwept: number;
  /** Where the logs are (only when kept). */
  runDir: string | null;
}

const ADMIN_TOKEN = `dra-chaos-${randomBytes(12).toString("hex")}`;
const CRASH_MARKER = "chaos-crash-after-commit";
function tally(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = ([lo, hi]: [number, number]) => lo + Math.random() * (hi - lo);

async function admin<T>(base: string, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}/admin/v1${p}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const { log } = opts;
  const runDir = mkdtempSync(path.join(tmpdir(), "darkroom-chaos-"));
  const dataDir = path.join(runDir, "data");
  const logDir = path.join(runDir, "logs");
  mkdirSync(logDir);
  const schema = `chaos_${randomBytes(5).toString("hex")}`;
  const root = new pg.Client({ connectionString: opts.databaseUrl });
  await root.connect();
  await root.query(`CREATE SCHEMA ${schema}`);
  await root.end();
  const url = new URL(opts.databaseUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  const databaseUrl = url.toString();
  log(`run folder ${runDir}, schema ${schema}`);

  const closers: Array<() => Promise<unknown>> = [];
  const procs: Proc[] = [];
  let passed = false;
  try {
    // Upstreams: one Ark and one OpenAI emulator, a fault injector per channel.
    const ark = await startArkEmulator({
      apiKey: "ark-chaos-key",
      record: false,
      maxRenderSide: 32,
    });
    const openai = await startOpenAIEmulator({ apiKey: "sk-openai-chaos" });
    closers.push(
      () => ark.close(),
      () => openai.close(),
    );
    const proxies: Record<string, FaultProxy> = {};
    const channels: Array<Record<string, unknown>> = [];
    const channel = async (
      id: string,
      kind: UpstreamKind,
      model: string,
      priority: number,
      weight: number,
    ) => {
      const p = await startFaultProxy(
        kind,
        kind === "ark" ? ark.url : openai.url,
        opts.faults,
        opts.channelTimeoutMs,
      );
      closers.push(() => p.close());
      proxies[id] = p;
      channels.push({
        id,
        model,
        provider: kind,
        base_url: p.url,
        api_key_env: kind === "ark" ? "CHAOS_ARK_KEY" : "CHAOS_OPENAI_KEY",
        upstream_model: kind === "ark" ? "doubao-seedream-4-0-250828" : "gpt-image-1",
        priority,
        weight,
        max_concurrency: 6,
        timeout_ms: opts.channelTimeoutMs,
      });
    };
    await channel("ark-a", "ark", "doubao-seedream-4.0", 0, 2);
    await channel("ark-b", "ark", "doubao-seedream-4.0", 0, 1);
    await channel("ark-spare", "ark", "doubao-seedream-4.0", 1, 1);
    await channel("openai-a", "openai", "gpt-image-1", 0, 1);
    await channel("openai-b", "openai", "gpt-image-1", 1, 1);
    const configFile = path.join(runDir, "darkroom.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        channels,
        breaker: { failure_threshold: 3, cool_down_ms: 1000 },
        sandbox_fallback: false,
      }),
    );

    const receiver = await startReceiver(opts.receiver);
    closers.push(() => receiver.close());

    // The processes.
    const apiPorts = await Promise.all(Array.from({ length: opts.apis }, () => freePort()));
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      DARKROOM_DB_POOL_MAX: "4",
      DARKROOM_DATA_DIR: dataDir,
      DARKROOM_CONFIG: configFile,
      DARKROOM_ADMIN_TOKEN: ADMIN_TOKEN,
      DARKROOM_BOOTSTRAP_API_KEY: `sk-chaos${randomBytes(16).toString("hex")}`,
      DARKROOM_SIGNING_SECRET: randomBytes(32).toString("hex"),
      DARKROOM_PUBLIC_URL: `http://127.0.0.1:${apiPorts[0]}`,
      DARKROOM_LEASE_SECONDS: String(opts.leaseSeconds),
      DARKROOM_POLL_INTERVAL_MS: "200",
      DARKROOM_RUNNER_CONCURRENCY: "24",
      DARKROOM_SHUTDOWN_GRACE_MS: "5000",
      DARKROOM_ALLOW_HTTP_CALLBACKS: "true",
      DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
      DARKROOM_AUTH_CACHE_MS: "1000",
      CHAOS_ARK_KEY: ark.apiKey,
      CHAOS_OPENAI_KEY: openai.apiKey,
      LOG_LEVEL: "info",
    };
    for (let i = 0; i < opts.apis; i++)
      procs.push(
        new Proc(
          `api-${i + 1}`,
          "api",
          apiPorts[i]!,
          opts.command,
          {
            ...env,
            DARKROOM_TEST_CRASH_AFTER_COMMIT: CRASH_MARKER,
          },
          logDir,
        ),
      );
    for (let i = 0; i < opts.workers; i++)
      procs.push(
        new Proc(`worker-${i + 1}`, "worker", await freePort(), opts.command, env, logDir),
      );
    const apis = procs.filter((p) => p.role === "api");
    const workers = procs.filter((p) => p.role === "worker");
    // The first start migrates; the rest start together.
    await apis[0]!.start();
    await Promise.all(procs.slice(1).map((p) => p.start()));
    log(`${apis.length} API and ${workers.length} worker processes ready`);

    const accounts: ClientAccount[] = [];
    for (let c = 0; c < opts.clients; c++) {
      const a = await admin<{ id: string }>(apis[0]!.url, "POST", "/accounts", {
        name: `chaos-client-${c}`,
        credits: "1000000",
      });
      const k = await admin<{ key: string }>(apis[0]!.url, "POST", `/accounts/${a.id}/keys`, {});
      accounts.push({ accountId: a.id, apiKey: k.key });
    }

    // The supervisor restarts whatever died (killed, or crashed after a commit) once its
    // down time is over; the monkey kills.
    const downUntil = new Map<Proc, number>();
    const kills = { worker: 0, api: 0, crashAfterCommit: 0 };
    /** Workers that died without being killed: a crash of the gateway itself. */
    const unexpectedExits: string[] = [];
    let stopping = false;
    const restarting = new Set<Proc>();
    const supervisor = (async () => {
      while (!stopping) {
        for (const p of procs) {
          if (p.running || restarting.has(p) || (downUntil.get(p) ?? 0) > Date.now()) continue;
          if (!downUntil.has(p)) {
            if (p.role === "api") kills.crashAfterCommit++;
            else unexpectedExits.push(p.name);
          }
          downUntil.delete(p);
          restarting.add(p);
          p.start()
            .catch((err: unknown) => log(`restart of ${p.name} failed: ${String(err)}`))
            .finally(() => restarting.delete(p));
        }
        await sleep(100);
      }
    })();
    let tasksSettled = false;
    const monkey = (async () => {
      let workerKills = opts.workerKills;
      let apiKills = opts.apiKills;
      while (!tasksSettled && workerKills + apiKills > 0) {
        await sleep(between(opts.killGapMs));
        if (tasksSettled) break;
        const killApi = apiKills > 0 && Math.random() < apiKills / (apiKills + workerKills);
        const pool = (killApi ? apis : workers).filter((p) => p.running && !restarting.has(p));
        // Never every API at once: clients must have somewhere to retry.
        if (killApi && apis.filter((p) => p.running).length < Math.min(2, apis.length)) continue;
        const victim = pool[Math.floor(Math.random() * pool.length)];
        if (!victim) continue;
        downUntil.set(victim, Date.now() + between(opts.downMs));
        await victim.kill9();
        if (killApi) {
          apiKills--;
          kills.api++;
        } else {
          workerKills--;
          kills.worker++;
        }
        log(`SIGKILL ${victim.name}`);
      }
    })();

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    closers.push(() => db.end());
    const progress = setInterval(() => {
      void db
        .query<{ status: string; n: string }>(
          `SELECT status, COUNT(*) AS n FROM tasks GROUP BY status`,
        )
        .then((r) => log(`tasks: ${r.rows.map((x) => `${x.status} ${x.n}`).join(", ")}`))
        .catch(() => undefined);
    }, 5000);
    closers.push(async () => clearInterval(progress));

    const submissions: Submission[] = await runClients({
      apis: () => apis.map((p) => p.url),
      accounts,
      tasks: opts.tasks,
      concurrency: opts.concurrency,
      crashes: opts.crashes,
      crashMarker: CRASH_MARKER,
      callbackUrl: receiver.url,
      random: Math.random,
      giveUpMs: 120_000,
    });
    log(`${submissions.length} submissions made in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const settleBy = Date.now() + opts.settleTimeoutMs;
    const until = async (what: string, sql: string) => {
      for (;;) {
        const open = Number((await db.query<{ n: string }>(sql)).rows[0]!.n);
        if (open === 0) return true;
        if (Date.now() > settleBy) {
          log(`gave up waiting for ${what}: ${open} left`);
          return false;
        }
        await sleep(500);
      }
    };
    await until(
      "tasks",
      `SELECT COUNT(*) AS n FROM tasks WHERE status IN ('pending', 'processing')`,
    );
    tasksSettled = true;
    await monkey;
    // Every process back up, so the last callbacks have a dispatcher.
    while (procs.some((p) => !p.running)) await sleep(200);
    await until("callbacks", `SELECT COUNT(*) AS n FROM webhook_outbox WHERE status = 'pending'`);
    const ledgerCheck = await admin<{ consistent: boolean; problems: unknown[] }>(
      apis[0]!.url,
      "GET",
      "/ledger/check",
    );
    stopping = true;
    await supervisor;
    const exits = await Promise.all(procs.map((p) => p.stop()));
    if (exits.some((c) => c !== 0)) log(`exit codes after SIGTERM: ${exits.join(", ")}`);

    // What a restarted worker's janitor does with the leftovers of the kills, an hour on
    // (it checks a folder once its ten minutes are an hour old).
    const filesDir = path.join(dataDir, "files");
    const filesBefore = listFiles(filesDir).length;
    const stores = await openStore(
      { databaseUrl, sqlitePath: path.join(dataDir, "unused") },
      {
        error: (obj, msg) => log(`store: ${msg} ${JSON.stringify(obj)}`),
        warn: (obj, msg) => log(`store: ${msg} ${JSON.stringify(obj)}`),
      },
    );
    let leftoversSwept = 0;
    try {
      const janitor = new Janitor(
        {
          store: stores.store,
          media: new FsStorage(filesDir),
          log: pino({ level: "silent" }),
          now: () => Date.now() + 2 * 60 * 60_000,
        },
        { ...DEFAULT_RETENTION, imageRetentionMs: null, taskRetentionMs: null },
      );
      leftoversSwept = (await janitor.runOnce()).leftoversRemoved;
    } finally {
      await stores.close();
    }
    log(`${filesBefore} files; the janitor swept ${leftoversSwept} leftovers of crashes`);

    const result = await checkRun({
      db,
      submissions,
      receiver,
      filesDir,
      ledgerCheck,
    });
    for (const name of unexpectedExits) result.violations.push(`${name} died without being killed`);
    passed = result.violations.length === 0;
    const injected: Record<string, number> = {};
    for (const p of Object.values(proxies))
      for (const [k, n] of Object.entries(p.injected)) injected[k] = (injected[k] ?? 0) + n;
    return {
      ...result,
      durationMs: Date.now() - t0,
      kills,
      submissions: {
        total: submissions.length,
        answered: submissions.filter((s) => s.outcome === "answered").length,
        replayedAfterCrash: submissions.filter((s) => s.crash && s.lostAfterSending && s.replayed)
          .length,
        refused: submissions.filter((s) => s.outcome === "refused").length,
        lost: submissions.filter((s) => s.outcome === "lost").length,
        why: tally(submissions.filter((s) => s.outcome !== "answered").map((s) => s.detail ?? "?")),
      },
      upstreamFaults: injected,
      leftoversSwept,
      runDir: passed && !opts.keep ? null : runDir,
    };
  } finally {
    await Promise.all(procs.map((p) => p.kill9()));
    for (const close of closers.reverse()) await close().catch(() => undefined);
    if (passed && !opts.keep) {
      const c = new pg.Client({ connectionString: opts.databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
      rmSync(runDir, { recursive: true, force: true });
    } else log(`kept ${runDir} and schema ${schema}`);
  }
}
