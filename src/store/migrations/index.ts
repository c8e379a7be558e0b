/**
 * Numbered migrations, run by Kysely's Migrator (it records what ran and takes a lock,
 * so many processes starting at once on PostgreSQL migrate exactly once). Each step
 * is a list of statements per dialect; add a step by appending to STEPS.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { initial } from "./001_initial.js";
import { webhooks } from "./002_webhooks.js";
import { channels } from "./003_channels.js";

export interface DialectSql {
  sqlite: string[];
  postgres: string[];
}

const STEPS: Array<[name: string, step: DialectSql]> = [
  ["001_initial", initial],
  ["002_webhooks", webhooks],
  ["003_channels", channels],
];

export async function migrateToLatest(
  db: Kysely<unknown>,
  dialect: keyof DialectSql,
): Promise<void> {
  const provider: MigrationProvider = {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, step] of STEPS) {
        out[name] = {
          async up(k: Kysely<unknown>) {
            for (const statement of step[dialect]) await sql.raw(statement).execute(k);
          },
        };
      }
      return out;
    },
  };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed: ${why}`);
  }
}
