/**
 * A SqliteStore on a fresh data dir, migrated and bootstrapped as the server opens it
 * (the default account and TEST_API_KEY), for tests that drive the store directly.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config/config.js";
import { newTaskId } from "../../src/core/ids.js";
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import { validateGenerationRequest } from "../../src/core/validate.js";
import { hashApiKey } from "../../src/core/credentials.js";
import { bootstrapIfEmpty } from "../../src/server/bootstrap.js";
import { SqliteStore, type SqliteStoreOptions } from "../../src/store/sqlite/sqlite-store.js";
import type { KeyPrincipal, SubmitInput } from "../../src/store/store.js";
import { TEST_API_KEY } from "./server.js";

export interface TestStore {
  store: SqliteStore;
  /** TEST_API_KEY's principal. */
  principal: KeyPrincipal;
  /** The data dir (the SQLite file is `darkroom.sqlite` in it). */
  dir: string;
  sqlitePath: string;
  /** Closes the store and removes the data dir. */
  close(): Promise<void>;
}

export async function openTestStore(
  credits = "1000",
  opts: SqliteStoreOptions = {},
): Promise<TestStore> {
  const dir = mkdtempSync(path.join(tmpdir(), "darkroom-store-"));
  const config = loadConfig({
    DARKROOM_DATA_DIR: dir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_BOOTSTRAP_CREDITS: credits,
  });
  const store = new SqliteStore(config.sqlitePath, opts);
  await store.migrate();
  await bootstrapIfEmpty(store, config);
  return {
    store,
    principal: (await store.findKeyByHash(hashApiKey(TEST_API_KEY)))!,
    dir,
    sqlitePath: config.sqlitePath,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const catalogue = new ModelCatalogue(BUILTIN_MODELS);

export interface SubmitInputOptions {
  /** Request fields over `{ model: "doubao-seedream-4.0", prompt: "a lake" }`. */
  body?: Record<string, unknown>;
  taskId?: string;
  /** Per image; 1.8 credits by default. */
  priceMicros?: number;
  nowMs?: number;
}

/** A valid submission, validated as the API would, reserving price × n. */
export function submitInput(principal: KeyPrincipal, opts: SubmitInputOptions = {}): SubmitInput {
  const v = validateGenerationRequest(
    { model: "doubao-seedream-4.0", prompt: "a lake", ...opts.body },
    catalogue,
  );
  if (!v.ok) throw v.error;
  const price = opts.priceMicros ?? 1_800_000;
  return {
    taskId: opts.taskId ?? newTaskId(),
    principal,
    request: v.request,
    reserveMicros: price * v.request.n,
    priceMicros: price,
    estimatedSeconds: 45,
    nowMs: opts.nowMs ?? Date.now(),
    idempotency: null,
  };
}
