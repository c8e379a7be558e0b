/** WebhookStore on PostgreSQL. Placeholder: being written (issue 14); every method throws until then. */
import type { WebhookStore } from "../webhooks.js";
import type { PgDatabase } from "./database.js";

export function PgOutboxPlaceholder(_db: PgDatabase): WebhookStore {
  return new Proxy({} as WebhookStore, {
    get(_t, name) {
      if (name === "then") return undefined;
      return () => Promise.reject(new Error(`PgOutbox.${String(name)} is not written yet`));
    },
  });
}
export const PgOutbox = PgOutboxPlaceholder as unknown as new (db: PgDatabase) => WebhookStore;
