/**
 * The chaos run's checker (chaos/check.ts) can fail: on a real gateway on PostgreSQL it
 * passes two clean tasks, then reports each invariant broken by hand in the database
 * or the image folder.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRun, type Submission } from "../../chaos/check.js";
import { PG_URL, freshSchema, postgresAnswers } from "../helpers/postgres.js";
import { startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

const pgUp = await postgresAnswers();

describe.skipIf(!pgUp)("the chaos checker", () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let s: TestServer;
  let db: pg.Client;
  const submissions: Submission[] = [];

  beforeAll(async () => {
    schema = await freshSchema();
    const url = new URL(PG_URL);
    url.searchParams.set("options", `-c search_path=${schema.schema}`);
    s = await startTestServer({ DATABASE_URL: url.toString() });
    db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    for (const tag of ["a", "b"]) {
      const r = await s.api("/v1/images/generations", {
        body: { model: "doubao-seedream-4.0", prompt: `chaos#${tag} x`, size: "1K" },
      });
      expect(r.status, r.text).toBe(200);
      await waitForTask(s, r.json.id);
      const row = await db.query<{ account_id: string }>(
        "SELECT account_id FROM tasks WHERE id = $1",
        [r.json.id],
      );
      submissions.push({
        tag,
        accountId: row.rows[0]!.account_id,
        idempotencyKey: null,
        crash: false,
        withCallback: false,
        taskId: r.json.id,
        replayed: false,
        lostAfterSending: false,
        outcome: "answered",
      });
    }
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await s?.stop();
    await schema?.drop();
  });

  const check = () =>
    checkRun({
      db,
      submissions,
      receiver: { arrivals: [], acknowledged: new Map(), duplicates: 0 },
      filesDir: path.join(s.dataDir, "files"),
      ledgerCheck: { consistent: true, problems: [] },
    });

  it("passes a clean run, and reports each broken invariant", async () => {
    const clean = await check();
    expect(clean.violations).toEqual([]);
    expect(clean.tasks).toMatchObject({ total: 2, completed: 2 });
    const [a, b] = submissions.map((x) => x.taskId!);

    await db.query("UPDATE accounts SET balance_micros = balance_micros + 1");
    await db.query("UPDATE tasks SET status = 'processing' WHERE id = $1", [a]);
    await db.query("DELETE FROM ledger_entries WHERE task_id = $1 AND kind = 'release'", [b]);
    const results = await db.query<{ results: string }>("SELECT results FROM tasks WHERE id = $1", [
      b,
    ]);
    const key = (JSON.parse(results.rows[0]!.results) as Array<{ key: string }>)[0]!.key;
    rmSync(path.join(s.dataDir, "files", key));
    writeFileSync(path.join(s.dataDir, "files", path.dirname(key), "stray.jpg"), "x");
    submissions.push({ ...submissions[0]!, tag: "c", taskId: "task-unified-1-nothere" });

    const v = (await check()).violations.join("\n");
    expect(v).toMatch(/balance \d+ but top-ups − charges = \d+/);
    expect(v).toContain(`task ${a} is stuck in processing`);
    expect(v).toContain(`task ${b}: 1 captures and 0 releases`);
    expect(v).toContain(`missing file ${key}`);
    expect(v).toMatch(/orphan file images\/.*\/stray\.jpg/);
    expect(v).toContain("submission c was answered task-unified-1-nothere but is not stored");
  });
});
