/**
 * Numbered migrations, run by Kysely's Migrator (it records what ran and takes a lock,
 * so processes starting at once migrate exactly once). Each step is a list of SQLite
 * statements; add a step by appending to STEPS, never by editing one that has run.
 *
 * Each step runs in one IMMEDIATE transaction: it takes the write lock up front, so
 * another process writing to the same file sees the step whole or not at all (004
 * backfills counts that triggers then keep), and a step that fails or is killed
 * halfway leaves nothing behind.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { initial } from "./001_initial.js";
import { webhooks } from "./002_webhooks.js";
import { channels } from "./003_channels.js";
import { listing } from "./004_listing.js";
import { retention } from "./005_retention.js";
import { cluster } from "./006_cluster.js";
import { rates } from "./007_rates.js";
import { queue } from "./008_queue.js";
import { files } from "./009_files.js";
import { taskAttempts } from "./010_task_attempts.js";

const STEPS: Array<[name: string, statements: string[]]> = [
  ["001_initial", initial],
  ["002_webhooks", webhooks],
  ["003_channels", channels],
  ["004_listing", listing],
  ["005_retention", retention],
  ["006_cluster", cluster],
  ["007_rates", rates],
  ["008_queue", queue],
  ["009_files", files],
  ["010_task_attempts", taskAttempts],
];

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const provider: MigrationProvider = {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, statements] of STEPS) {
        out[name] = {
          async up(k: Kysely<unknown>) {
            await sql.raw("BEGIN IMMEDIATE").execute(k);
            try {
              for (const statement of statements) await sql.raw(statement).execute(k);
              await sql.raw("COMMIT").execute(k);
            } catch (err) {
              await sql.raw("ROLLBACK").execute(k);
              throw err;
            }
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
