/**
 * The PostgreSQL backend as a whole (DATABASE_URL): one pool (database.ts) shared by the
 * task store, the admin store, the outbox and the channels, migrated at open and
 * closed together. Many processes may open the same database at once.
 */
import type { OpenedStores } from "../open.js";
import { PgAdmin } from "./admin.js";
import { PgChannels } from "./channels.js";
import { describeUrl, PgDatabase, type PgDatabaseOptions } from "./database.js";
import { PgFiles } from "./files.js";
import { migratePostgres } from "./migrate.js";
import { PgOutbox } from "./outbox.js";
import { PgStore } from "./pg-store.js";
import { PgWorkSignal } from "./work-signal.js";

export interface PgStores extends OpenedStores {
  store: PgStore;
  /** For PostgreSQL's own tests; nothing outside store/postgres needs it. */
  db: PgDatabase;
  workSignal: PgWorkSignal;
}

/** Connects, checks the server answers, and migrates; ready when it resolves. */
export async function openPostgresStores(
  url: string,
  opts: PgDatabaseOptions = {},
): Promise<PgStores> {
  let db: PgDatabase;
  try {
    db = new PgDatabase(url, opts);
  } catch (err) {
    throw new Error(`DATABASE_URL is not usable: ${(err as Error).message}`, { cause: err });
  }
  try {
    // A server that is not there fails the start here, with where it was looked for.
    await db.query("SELECT 1").catch((err: Error) => {
      throw new Error(`PostgreSQL at ${describeUrl(url)} does not answer: ${err.message}`, {
        cause: err,
      });
    });
    await migratePostgres(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  const workSignal = new PgWorkSignal({
    url,
    schema: db.schema,
    db,
    onError: (err) => opts.onIdleError?.(err),
  });
  // New work, and work handed back (a drain, a full channel), wake the workers.
  const store = new PgStore(db, {
    onCreated: () => workSignal.notify(),
    onHandedBack: () => workSignal.notify(),
  });
  return {
    store,
    workSignal,
    // A submission anywhere wakes idle runners here; callbacks are due where their task
    // finished, which wakes its own dispatcher.
    wakeups: {
      subscribe: (kind, listener) => (kind === "tasks" ? workSignal.onWork(listener) : () => {}),
    },
    admin: new PgAdmin(db),
    outbox: new PgOutbox(db),
    channels: new PgChannels(db),
    files: new PgFiles(db),
    db,
    close: async () => {
      await store.close();
      await workSignal.close();
      await db.close();
    },
  };
}
