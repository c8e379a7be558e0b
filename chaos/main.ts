/**
 * `npm run chaos`: the long chaos run against the built server (bin/darkroom.js).
 * Prints a summary and exits 1 when any check failed (the run's logs and schema are
 * then kept for a look). Settings, all optional, as environment variables:
 *
 *   CHAOS_TASKS (3000)  CHAOS_APIS (2)  CHAOS_WORKERS (3)  CHAOS_CLIENTS (4)
 *   CHAOS_WORKER_KILLS (12)  CHAOS_API_KILLS (3)  CHAOS_CRASHES (5)  CHAOS_KEEP (0)
 *   DARKROOM_TEST_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test)
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { builtServer } from "./cluster.js";
import { DEFAULT_OPTIONS, runChaos, type ChaosReport } from "./run.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const int = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number (got "${v}")`);
  return n;
};

export function summary(r: ChaosReport): string {
  const s = (n: number) => (r.durationMs / 1000).toFixed(n);
  const errors = Object.entries(r.tasks.byError)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  const faults = Object.entries(r.upstreamFaults)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  return [
    `chaos run: ${r.violations.length === 0 ? "ALL CHECKS PASSED" : `${r.violations.length} VIOLATIONS`} in ${s(0)} s`,
    `  submissions  ${r.submissions.total} (answered ${r.submissions.answered}, refused ${r.submissions.refused}, no answer ${r.submissions.lost}; crash-after-commit retries replayed ${r.submissions.replayedAfterCrash})`,
    ...(Object.keys(r.submissions.why).length > 0
      ? [`               not answered: ${JSON.stringify(r.submissions.why)}`]
      : []),
    `  tasks        ${r.tasks.total}: completed ${r.tasks.completed}, failed ${r.tasks.failed} (${errors || "none"})`,
    `  kills        SIGKILL worker ${r.kills.worker}, api ${r.kills.api}; api died after commit ${r.kills.crashAfterCommit}`,
    `  upstream     calls by injected fault: ${faults}`,
    `  callbacks    ${r.callbacks.tasks} tasks: delivered ${r.callbacks.delivered}, failed ${r.callbacks.failed}; ${r.callbacks.requests} requests, ${r.callbacks.redelivered} webhook-ids sent more than once (${r.callbacks.acknowledgedTwice} acknowledged again, deduplicated)`,
    `  ledger       ${r.accounts} accounts balanced; one reserve, capture and release per task`,
    `  files        ${r.files.images} images of completed tasks; ${r.leftoversSwept} leftovers of crashes swept by the janitor`,
    ...r.violations.map((v) => `  VIOLATION    ${v}`),
    ...(r.runDir ? [`  logs         ${r.runDir}/logs`] : []),
  ].join("\n");
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const report = await runChaos({
    ...DEFAULT_OPTIONS,
    command: builtServer(root),
    databaseUrl:
      process.env.DARKROOM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    tasks: int("CHAOS_TASKS", DEFAULT_OPTIONS.tasks),
    apis: int("CHAOS_APIS", DEFAULT_OPTIONS.apis),
    workers: int("CHAOS_WORKERS", DEFAULT_OPTIONS.workers),
    clients: int("CHAOS_CLIENTS", DEFAULT_OPTIONS.clients),
    workerKills: int("CHAOS_WORKER_KILLS", DEFAULT_OPTIONS.workerKills),
    apiKills: int("CHAOS_API_KILLS", DEFAULT_OPTIONS.apiKills),
    crashes: int("CHAOS_CRASHES", DEFAULT_OPTIONS.crashes),
    keep: int("CHAOS_KEEP", 0) === 1,
    log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  console.log(summary(report));
  process.exit(report.violations.length === 0 ? 0 : 1);
}
