/**
 * The one way a process opens its database: the backend the configuration chooses,
 * migrated and ready, with every store a process needs on it. Nothing above src/store
 * names a backend.
 */
import type { AdminStore } from "./admin.js";
import type { ChannelStore } from "./channels.js";
import type { FileStore } from "./files.js";
import { openPostgresStores } from "./postgres/backend.js";
import { adviseOnBuffers } from "./postgres/buffer-advice.js";
import { openSqliteStores } from "./sqlite/backend.js";
import type { Store } from "./store.js";
import type { WebhookStore } from "./webhooks.js";
import type { WorkWakeups } from "./wakeups.js";

export interface StoreConfig {
  /** PostgreSQL (`postgres://…`); null = the embedded SQLite file. */
  databaseUrl: string | null;
  /** PostgreSQL pool size per process (default 10). */
  databasePoolMax?: number;
  sqlitePath: string;
}

export interface StoreLog {
  error(obj: object, msg: string): void;
  /** Advice about the database server's settings (once, at open). */
  warn(obj: object, msg: string): void;
}

export interface OpenedStores {
  /** Tasks: submissions, polls, claims and settlement (the hot path). */
  store: Store;
  /** Accounts, keys, groups, prices and the ledger. */
  admin: AdminStore;
  /** The webhook outbox. */
  outbox: WebhookStore;
  /** Admin-defined channels. */
  channels: ChannelStore;
  /** Uploaded files (the file API). */
  files: FileStore;
  /** Hears of work queued by other processes (wakeups.ts); absent = poll only (SQLite). */
  wakeups?: WorkWakeups;
  /** Writes what is queued, then closes the database. */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** false: submissions are written inline instead of on a writer thread (tests). */
  writerThread?: boolean;
  /** false: no advice about the server's settings (a second opening in one process). */
  advise?: boolean;
}

export async function openStore(
  config: StoreConfig,
  log: StoreLog,
  opts: OpenStoreOptions = {},
): Promise<OpenedStores> {
  if (config.databaseUrl) {
    const { db, ...stores } = await openPostgresStores(config.databaseUrl, {
      max: config.databasePoolMax,
      onIdleError: (err) => log.error({ err }, "a PostgreSQL connection failed; it is replaced"),
    });
    if (opts.advise !== false) await adviseOnBuffers(db, log);
    return stores;
  }
  const { connection: _connection, ...stores } = await openSqliteStores(config.sqlitePath, {
    writerThread: opts.writerThread,
    onWriterThreadError: (err) =>
      log.error({ err }, "the SQLite writer thread failed; submissions are now written inline"),
  });
  return stores;
}
