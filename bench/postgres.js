#!/usr/bin/env node
// The PostgreSQL task store's hot paths, measured at the store seam (no HTTP): how many
// submissions and polls per second one process gets, what a claim + finish cycle
// costs, and how long a submission in one process takes to wake a worker in another.
//
//   npm run build && node bench/postgres.js
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test BENCH_SECONDS=5 \
//     BENCH_CONCURRENCY=64 BENCH_POOL=10 node bench/postgres.js
//
// Works in a schema of its own (dropped at the end). Submissions all go to one account,
// the hardest case: they serialise on its row, which batching (pg-store.ts) amortises.
// BENCH_BATCHES_IN_FLIGHT sets the store's submission batches in flight (default 2).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openPostgresStores } from "../dist/store/postgres/backend.js";

const URL = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 64);
const POOL = Number(process.env.BENCH_POOL || 10);
const IN_FLIGHT = process.env.BENCH_BATCHES_IN_FLIGHT
  ? Number(process.env.BENCH_BATCHES_IN_FLIGHT)
  : undefined;
const WAKES = Number(process.env.BENCH_WAKES || 200);

const schema = `bench_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: URL });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);

const opened = [];
async function open() {
  const s = await openPostgresStores(URL, { schema, max: POOL });
  if (IN_FLIGHT !== undefined) s.store.submissions.maxInFlight = IN_FLIGHT;
  opened.push(s);
  return s;
}

try {
  const a = await open();
  await a.store.bootstrap({
    nowMs: Date.now(),
    adminTokenHash: "h",
    accountName: "default",
    groupName: "default",
    groups: [{ name: "default", multiplierPpm: 1_000_000 }],
    apiKey: { id: "key_bench", hash: "kh", prefix: "sk-bench" },
    creditsMicros: 1e15,
    webhookSecret: "whsec",
  });
  const principal = await a.store.findKeyByHash("kh");
  const request = {
    model: "doubao-seedream-4.0",
    prompt: "a lake at dawn",
    n: 1,
    size: "1024x1024",
    callbackUrl: null,
  };
  let seq = 0;
  const submission = () => ({
    taskId: `task-bench-${Date.now()}-${seq++}`,
    principal,
    request,
    reserveMicros: 1_800_000,
    priceMicros: 1_800_000,
    estimatedSeconds: 45,
    nowMs: Date.now(),
    idempotency: null,
  });

  /** `work` run by CONCURRENCY loops for SECONDS; returns operations per second. */
  async function measure(work) {
    let done = 0;
    const until = Date.now() + SECONDS * 1000;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (Date.now() < until) {
          await work();
          done++;
        }
      }),
    );
    const s = Number(process.hrtime.bigint() - started) / 1e9;
    return Math.round(done / s);
  }

  const ids = [];
  const submits = await measure(async () => {
    const i = submission();
    const r = await a.store.submitTask(i);
    if (r.kind !== "created") throw new Error(`submission ${r.kind}`);
    ids.push(i.taskId);
  });
  console.log(`submissions/s  ${submits}  (${CONCURRENCY} concurrent, one account, pool ${POOL})`);

  const polls = await measure(async () => {
    const id = ids[Math.floor(Math.random() * ids.length)];
    if (!(await a.store.getTask(principal.accountId, id))) throw new Error("poll missed");
  });
  console.log(`polls/s        ${polls}  (over ${ids.length} tasks)`);

  const cycles = await measure(async () => {
    const [c] = await a.store.claimTasks("bench", 1, 60_000, Date.now());
    if (!c) return;
    await a.store.finishTask(
      c.task.id,
      c.leaseToken,
      { kind: "completed", images: [], chargeMicros: 1_000_000 },
      Date.now(),
    );
  });
  console.log(`claim+finish/s ${cycles}`);

  // Wake latency: a submission committed by one process (pool) to the subscriber of
  // another, one at a time. graphile-worker reports ~4 ms enqueue-to-start.
  const b = await open();
  let woken = () => {};
  b.workSignal.onWork(() => woken());
  await b.workSignal.listening();
  const lat = [];
  for (let i = 0; i < WAKES; i++) {
    const seen = new Promise((resolve) => (woken = resolve));
    const t0 = process.hrtime.bigint();
    await a.store.submitTask(submission());
    await seen;
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  lat.sort((x, y) => x - y);
  const avg = lat.reduce((s, x) => s + x, 0) / lat.length;
  console.log(
    `wake latency   avg ${avg.toFixed(2)} ms, p50 ${lat[Math.floor(lat.length / 2)].toFixed(2)} ms, p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(2)} ms (submit → other process's subscriber)`,
  );
} finally {
  for (const s of opened) await s.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
