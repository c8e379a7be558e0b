/** The store contract against the embedded backend: a real SQLite file in a temp dir. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openSqliteStores } from "../../src/store/sqlite/backend.js";
import { storeContract } from "./store.contract.js";

storeContract("sqlite", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "darkroom-contract-"));
  const stores = await openSqliteStores(path.join(dir, "darkroom.sqlite"));
  return {
    ...stores,
    async close() {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
