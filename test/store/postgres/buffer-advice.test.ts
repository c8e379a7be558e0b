/**
 * The start-up advice about `shared_buffers` (src/store/postgres/buffer-advice.ts): the
 * rule on its own, and the two figures as a real server reports them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adviseOnBuffers,
  BUFFER_BYTES_PER_TASK,
  bufferAdvice,
  readServerFigures,
} from "../../../src/store/postgres/buffer-advice.js";
import type { PgDatabase } from "../../../src/store/postgres/database.js";
import { type Queryable } from "../../../src/store/postgres/database.js";
import { migratedSchema, postgresAnswers } from "../../helpers/postgres.js";

const MIB = 1024 * 1024;

describe("bufferAdvice", () => {
  it("says nothing for a new store or one the buffers hold", () => {
    expect(bufferAdvice({ sharedBuffersBytes: 128 * MIB, estimatedTasks: 0 })).toBeNull();
    expect(bufferAdvice({ sharedBuffersBytes: 128 * MIB, estimatedTasks: 1_000_000 })).toBeNull();
    expect(bufferAdvice({ sharedBuffersBytes: 4096 * MIB, estimatedTasks: 10_000_000 })).toBeNull();
  });

  it("advises a size for a history the default 128 MB cannot hold, naming the doc", () => {
    const advice = bufferAdvice({ sharedBuffersBytes: 128 * MIB, estimatedTasks: 10_000_000 });
    expect(advice).toContain("shared_buffers (128 MB)");
    expect(advice).toContain("about 10,000,000 tasks");
    // 10M × 100 bytes is 954 MB, rounded up to a multiple of 128 MB.
    expect(advice).toContain("at least 1024 MB");
    expect(advice).toContain("docs/postgres.md");
  });

  it("draws the line at BUFFER_BYTES_PER_TASK per task", () => {
    const tasks = 2_000_000;
    const enough = tasks * BUFFER_BYTES_PER_TASK;
    expect(bufferAdvice({ sharedBuffersBytes: enough, estimatedTasks: tasks })).toBeNull();
    expect(bufferAdvice({ sharedBuffersBytes: enough - 1, estimatedTasks: tasks })).not.toBeNull();
  });
});

describe("adviseOnBuffers", () => {
  const warnings: Array<{ obj: object; msg: string }> = [];
  const log = { warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) };
  const answering = (buffers: number, tasks: number | null): Queryable => ({
    query: async <R>() => [{ buffers, tasks }] as R[],
  });

  it("warns once, with the figures, when the buffers are small for the history", async () => {
    warnings.length = 0;
    await adviseOnBuffers(answering(128 * MIB, 10_000_000), log);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.obj).toEqual({ sharedBuffersBytes: 128 * MIB, estimatedTasks: 10_000_000 });
    expect(warnings[0]!.msg).toContain("shared_buffers (128 MB)");
  });

  it("says nothing for a table never analyzed (reltuples -1) or missing", async () => {
    warnings.length = 0;
    await adviseOnBuffers(answering(128 * MIB, -1), log);
    await adviseOnBuffers(answering(128 * MIB, null), log);
    expect(warnings).toEqual([]);
  });

  it("says nothing, and does not throw, when the server will not tell", async () => {
    warnings.length = 0;
    const refusing: Queryable = {
      query: () => Promise.reject(new Error("permission denied for function pg_size_bytes")),
    };
    await expect(adviseOnBuffers(refusing, log)).resolves.toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

const up = await postgresAnswers();

describe.skipIf(!up)("readServerFigures on PostgreSQL", () => {
  let db: PgDatabase;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, drop } = await migratedSchema());
  });

  afterAll(async () => {
    await drop?.();
  });

  it("reads the server's shared_buffers in bytes, as pg_settings counts it", async () => {
    const [expected] = await db.query<{ bytes: number }>(
      `SELECT (setting::bigint * current_setting('block_size')::bigint)::float8 AS bytes
       FROM pg_settings WHERE name = 'shared_buffers'`,
    );
    expect((await readServerFigures(db)).sharedBuffersBytes).toBe(expected!.bytes);
  });

  it("has no estimate before the tasks table is analyzed, then the planner's", async () => {
    expect((await readServerFigures(db)).estimatedTasks).toBe(0);
    await db.query(`INSERT INTO groups VALUES ('default', 1000000, 0)`);
    await db.query(
      `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms)
       VALUES ('acct_1', 'n1', 'default', 'w', 0)`,
    );
    await db.query(
      `INSERT INTO api_keys (id, account_id, key_hash, prefix, created_ms)
       VALUES ('key_1', 'acct_1', 'h1', 'p', 0)`,
    );
    await db.query(
      `INSERT INTO tasks (id, account_id, api_key_id, model, status, request, n, user_group,
         price_micros, multiplier_ppm, credits_reserved_micros, estimated_s,
         run_after_ms, created_s, created_ms, updated_ms)
       SELECT 'task-unified-' || i, 'acct_1', 'key_1', 'm', 'completed', '{}', 1, 'default',
         1, 1000000, 1, 10, i, i / 1000, i, i
       FROM generate_series(1, 1234) AS i`,
    );
    await db.query(`ANALYZE tasks`);
    // A table this small is sampled whole: the estimate is the count.
    expect((await readServerFigures(db)).estimatedTasks).toBe(1234);
  });
});
