/** ChannelStore on PostgreSQL. Placeholder: being written (issue 14); every method throws until then. */
import type { ChannelStore } from "../channels.js";
import type { PgDatabase } from "./database.js";

export function PgChannelsPlaceholder(_db: PgDatabase): ChannelStore {
  return new Proxy({} as ChannelStore, {
    get(_t, name) {
      if (name === "then") return undefined;
      return () => Promise.reject(new Error(`PgChannels.${String(name)} is not written yet`));
    },
  });
}
export const PgChannels = PgChannelsPlaceholder as unknown as new (db: PgDatabase) => ChannelStore;
