/**
 * PostgreSQL for tests: CI's server (127.0.0.1:5432, user postgres, trust, database
 * `test`) or DARKROOM_TEST_DATABASE_URL. Each test file (or each test) works in a schema
 * of its own, so files run in parallel and leave nothing behind.
 *
 * When no server answers, PostgreSQL tests are skipped with a loud warning, except on
 * CI (CI=true), where a missing server fails the run: CI never skips.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { PgDatabase } from "../../src/store/postgres/database.js";
import { migratePostgres } from "../../src/store/postgres/migrate.js";

export const PG_URL =
  process.env.DARKROOM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

let answered: Promise<boolean> | null = null;

/** Whether the test server answers (asked once per file). */
export function postgresAnswers(): Promise<boolean> {
  answered ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } catch (err) {
      if (process.env.CI)
        throw new Error(`PostgreSQL does not answer at ${PG_URL} on CI`, { cause: err });
      console.warn(
        `\n!!! PostgreSQL does not answer at ${PG_URL}: PostgreSQL tests are SKIPPED (${String(err)})\n`,
      );
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return answered;
}

/** A new, empty schema; drop() removes it and everything in it. */
export async function freshSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  return {
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A fresh schema with Darkroom's tables in it and a small pool on it; drop() closes
 * the pool and removes the schema.
 */
export async function migratedSchema(): Promise<{ db: PgDatabase; drop(): Promise<void> }> {
  const fresh = await freshSchema();
  const db = new PgDatabase(PG_URL, { schema: fresh.schema, max: 2 });
  try {
    await migratePostgres(db);
  } catch (err) {
    await db.close();
    await fresh.drop();
    throw err;
  }
  return {
    db,
    async drop() {
      await db.close();
      await fresh.drop();
    },
  };
}
