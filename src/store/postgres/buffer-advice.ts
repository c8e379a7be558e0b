/**
 * Whether PostgreSQL's `shared_buffers` can hold what polls read, told once at start.
 *
 * A poll is one leaf of `tasks_pkey` and one heap page at any size, but when the
 * buffers cannot hold the id index, polls of older tasks copy pages in from the
 * kernel's cache and evict each other: with 10 million tasks and Debian's default
 * 128 MB they ran at 56 % of their rate at 10,000 tasks, and at 93 % with 4 GB
 * (BENCHMARKS.md; docs/postgres.md, "Server settings for a long history"). Nothing
 * else warns an operator whose store has quietly outgrown the server's defaults.
 */
import type { Queryable } from "./database.js";

/**
 * Buffer bytes per task below which polls of old tasks stop being flat: the id index
 * (about 60 bytes a task when compact, more as pages split) with room for the heap
 * pages of the tasks being polled.
 */
export const BUFFER_BYTES_PER_TASK = 100;

export interface ServerFigures {
  sharedBuffersBytes: number;
  /** The planner's estimate of the tasks table's rows (0 before its first ANALYZE). */
  estimatedTasks: number;
}

const MIB = 1024 * 1024;

/** The advice to log, or null when the buffers are large enough for the history. */
export function bufferAdvice({ sharedBuffersBytes, estimatedTasks }: ServerFigures): string | null {
  const wanted = estimatedTasks * BUFFER_BYTES_PER_TASK;
  if (estimatedTasks <= 0 || sharedBuffersBytes >= wanted) return null;
  const tasks = Math.round(estimatedTasks).toLocaleString("en-US");
  return (
    `PostgreSQL's shared_buffers (${Math.round(sharedBuffersBytes / MIB)} MB) is small for ` +
    `about ${tasks} tasks: polls of older tasks will read pages from the kernel instead. ` +
    `Give it at least ${Math.ceil(wanted / (128 * MIB)) * 128} MB (docs/postgres.md, ` +
    `"Server settings for a long history").`
  );
}

/** Reads the two figures: the setting, and the tasks table's row estimate (no scan). */
export async function readServerFigures(db: Queryable): Promise<ServerFigures> {
  const [row] = await db.query<{ buffers: number; tasks: number | null }>(
    `SELECT pg_size_bytes(current_setting('shared_buffers'))::float8 AS buffers,
       (SELECT reltuples FROM pg_class WHERE oid = to_regclass('tasks'))::float8 AS tasks`,
  );
  return {
    sharedBuffersBytes: row!.buffers,
    // -1 (PostgreSQL 14+) or 0: never analyzed, so no estimate yet.
    estimatedTasks: Math.max(0, row!.tasks ?? 0),
  };
}

/**
 * Logs the advice, if any. Advice only: a server that refuses to say (permissions, an
 * old version) is not a reason to fail a start, so a failed read says nothing.
 */
export async function adviseOnBuffers(
  db: Queryable,
  log: { warn(obj: object, msg: string): void },
): Promise<void> {
  const figures = await readServerFigures(db).catch(() => null);
  const advice = figures && bufferAdvice(figures);
  if (advice) log.warn({ ...figures }, advice);
}
