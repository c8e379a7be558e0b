/**
 * The embedded backend as a whole: one connection (connection.ts) shared by the task
 * store, the admin store, the outbox and the channels, opened and closed together.
 */
import type { OpenedStores } from "../open.js";
import { SqliteAdmin } from "./admin.js";
import { SqliteChannels } from "./channels.js";
import { SqliteFiles } from "./files.js";
import { SqliteConnection, type SqliteConnectionOptions } from "./connection.js";
import { SqliteOutbox } from "./outbox.js";
import { SqliteStore } from "./sqlite-store.js";

export interface SqliteStores extends OpenedStores {
  store: SqliteStore;
  /** For SQLite's own tests (writer thread, snapshot); nothing outside store/sqlite needs it. */
  connection: SqliteConnection;
}

/** Opens (creating if need be) and migrates the SQLite file; ready to write when it resolves. */
export async function openSqliteStores(
  file: string,
  opts: SqliteConnectionOptions = {},
): Promise<SqliteStores> {
  const connection = new SqliteConnection(file, opts);
  try {
    await connection.open();
  } catch (err) {
    await connection.close();
    throw err;
  }
  return {
    store: new SqliteStore(connection),
    admin: new SqliteAdmin(connection),
    outbox: new SqliteOutbox(connection),
    channels: new SqliteChannels(connection),
    files: new SqliteFiles(connection),
    connection,
    close: () => connection.close(),
  };
}
