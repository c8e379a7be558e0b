/** The store contract against PostgreSQL: each test in a fresh schema of the test server. */
import { describe } from "vitest";
import { openPostgresStores } from "../../src/store/postgres/backend.js";
import { freshSchema, PG_URL, postgresAnswers } from "../helpers/postgres.js";
import { storeContract } from "./store.contract.js";

const up = await postgresAnswers();

describe.skipIf(!up)("postgres", () => {
  storeContract("postgres", async () => {
    const { schema, drop } = await freshSchema();
    const stores = await openPostgresStores(PG_URL, { schema, max: 4 });
    return {
      ...stores,
      async close() {
        await stores.close();
        await drop();
      },
    };
  });
});
