/**
 * For SQLite's own tests: the stores with their connection (writer thread, snapshot),
 * bootstrapped like openTestStore's, and a way to look inside the file.
 */
import { openSqliteStores, type SqliteStores } from "../../../src/store/sqlite/backend.js";
import type {
  SqliteConnection,
  SqliteConnectionOptions,
} from "../../../src/store/sqlite/connection.js";
import { openBootstrapped, type TestStore } from "../../helpers/store.js";

export type SqliteTestStore = TestStore<SqliteStores>;

export function openSqliteTestStore(
  credits = "1000",
  opts: SqliteConnectionOptions = {},
): Promise<SqliteTestStore> {
  return openBootstrapped(credits, (config) => openSqliteStores(config.sqlitePath, opts));
}

/** The single number a read returns (a COUNT, say), on the store's own connection. */
export function scalar(conn: SqliteConnection, sql: string, ...args: unknown[]): number {
  return Number(
    (conn
      .prepare(sql)
      .pluck()
      .get(...args) as number | bigint | null) ?? 0,
  );
}
