/** AdminStore on PostgreSQL. Placeholder: being written (issue 14); every method throws until then. */
import type { AdminStore } from "../admin.js";
import type { PgDatabase } from "./database.js";

export function PgAdminPlaceholder(_db: PgDatabase): AdminStore {
  return new Proxy({} as AdminStore, {
    get(_t, name) {
      if (name === "then") return undefined;
      return () => Promise.reject(new Error(`PgAdmin.${String(name)} is not written yet`));
    },
  });
}
export const PgAdmin = PgAdminPlaceholder as unknown as new (db: PgDatabase) => AdminStore;
