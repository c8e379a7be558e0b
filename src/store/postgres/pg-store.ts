/** Store on PostgreSQL. Placeholder: being written (issue 14); every method throws until then. */
import type { Store } from "../store.js";
import type { PgDatabase } from "./database.js";

function placeholder(_db: PgDatabase): Store & { close(): Promise<void> } {
  return new Proxy({} as Store & { close(): Promise<void> }, {
    get(_t, name) {
      if (name === "then") return undefined;
      if (name === "close") return () => Promise.resolve();
      return () => Promise.reject(new Error(`PgStore.${String(name)} is not written yet`));
    },
  });
}
export type PgStore = Store & { close(): Promise<void> };
export const PgStore = placeholder as unknown as new (db: PgDatabase) => PgStore;
