/**
 * Migrations for PostgreSQL, run by Kysely's Migrator: it records what ran in the
 * schema in use and holds an advisory lock while it works, so processes starting at
 * once migrate exactly once. PostgreSQL's DDL is transactional: a step that fails or
 * is killed halfway leaves nothing behind.
 */
import { Kysely, Migrator, PostgresDialect, sql, type Migration } from "kysely";
import type { PgDatabase } from "./database.js";
import { files } from "./files-schema.js";
import { initial } from "./schema.js";
import { finishBatch } from "./finish-batch.js";
import { taskAttempts } from "./task-attempts.js";
import { taskFunctions } from "./task-functions.js";

const PG_STEPS: Array<[name: string, statements: string[]]> = [
  ["001_initial", initial],
  ["002_task_functions", taskFunctions],
  ["003_files", files],
  ["004_task_attempts", taskAttempts],
  ["005_finish_batch", finishBatch],
];

export async function migratePostgres(db: PgDatabase): Promise<void> {
  // Kysely borrows the pool; destroying it here would end the pool, so it is left be.
  const kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: db.pool }) });
  const migrations: Record<string, Migration> = {};
  for (const [name, statements] of PG_STEPS) {
    migrations[name] = {
      async up(k: Kysely<unknown>) {
        for (const statement of statements) await sql.raw(statement).execute(k);
      },
    };
  }
  const migrator = new Migrator({
    db: kysely,
    provider: { getMigrations: async () => migrations },
    migrationTableSchema: db.schema,
  });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return;
    // Kysely looks for its tables by reading every table of every schema in the
    // database; a schema dropped by someone else meanwhile (tests drop theirs all the
    // time) fails that read with "schema … does not exist". Nothing ran: try again.
    const code = (error as { code?: unknown }).code;
    if ((code === "3F000" || code === "42P01") && attempt < 5) continue;
    const failed = results?.find((r) => r.status === "Error");
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed: ${why}`);
  }
}
