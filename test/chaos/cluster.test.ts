/**
 * The chaos run, short (issue 14): one API and three worker processes on PostgreSQL,
 * a few hundred tasks against the emulated Ark and OpenAI upstreams with injected
 * faults, workers and the API SIGKILLed at random and restarted, submissions killed
 * after commit and retried with their Idempotency-Key, a callback receiver that fails.
 * The verdict is chaos/check.ts's, the same as `npm run chaos` (the long run).
 *
 * The processes run from the sources (tsx), so the test needs no build.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sourceServer } from "../../chaos/cluster.js";
import { summary } from "../../chaos/main.js";
import { DEFAULT_OPTIONS, runChaos } from "../../chaos/run.js";
import { PG_URL, postgresAnswers } from "../helpers/postgres.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pgUp = await postgresAnswers();

describe.skipIf(!pgUp)("chaos run (short)", () => {
  it("every task terminal once, every account balanced, every callback settled, no orphan file", async () => {
    const lines: string[] = [];
    const report = await runChaos({
      ...DEFAULT_OPTIONS,
      command: sourceServer(root),
      databaseUrl: PG_URL,
      tasks: 200,
      apis: 1,
      workers: 3,
      clients: 3,
      concurrency: 4,
      workerKills: 3,
      apiKills: 1,
      crashes: 2,
      killGapMs: [1500, 3000],
      downMs: [200, 1000],
      leaseSeconds: 3,
      settleTimeoutMs: 150_000,
      log: (line) => lines.push(line),
    });
    const text = summary(report);
    console.log(text);
    expect(report.violations, `${text}\n${lines.join("\n")}`).toEqual([]);
    // The run did what it is for: tasks ran, processes died, crashed submissions came back.
    expect(report.tasks.total).toBeGreaterThan(100);
    expect(report.tasks.completed).toBeGreaterThan(0);
    expect(report.kills.worker).toBeGreaterThan(0);
    expect(report.kills.crashAfterCommit).toBeGreaterThan(0);
    expect(report.submissions.replayedAfterCrash).toBeGreaterThan(0);
    expect(report.callbacks.delivered).toBeGreaterThan(0);
  }, 400_000);
});
