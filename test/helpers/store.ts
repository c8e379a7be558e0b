/**
 * The stores on a fresh data dir, opened, migrated and bootstrapped as the server opens
 * them (the default account and TEST_API_KEY), for tests that drive the store directly.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../src/config/config.js";
import { newTaskId } from "../../src/core/ids.js";
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import { validateGenerationRequest } from "../../src/core/validate.js";
import { hashApiKey } from "../../src/core/credentials.js";
import { bootstrapIfEmpty } from "../../src/server/bootstrap.js";
import { openStore, type OpenedStores, type OpenStoreOptions } from "../../src/store/open.js";
import type { KeyPrincipal, SubmitInput } from "../../src/store/store.js";
import { TEST_API_KEY } from "./server.js";

export type TestStore<S extends OpenedStores = OpenedStores> = S & {
  /** TEST_API_KEY's principal. */
  principal: KeyPrincipal;
  /** The data dir (the SQLite file is `darkroom.sqlite` in it). */
  dir: string;
  sqlitePath: string;
  /** Closes the stores and removes the data dir. */
  close(): Promise<void>;
};

/** Throws on anything the store logs as an error (a test would otherwise miss it). */
const failLoudly = {
  error(obj: object, msg: string): void {
    throw new Error(`${msg}: ${JSON.stringify(obj)}`);
  },
  warn(): void {}, // advice about the server's settings: the tests' stores are small
};

/** The configured backend (`openStore`), as a process opens it. */
export function openTestStore(credits = "1000", opts: OpenStoreOptions = {}): Promise<TestStore> {
  return openBootstrapped(credits, (config) => openStore(config, failLoudly, opts));
}

/** Stores opened by `open` on a fresh data dir, bootstrapped as `darkroom serve` does. */
export async function openBootstrapped<S extends OpenedStores>(
  credits: string,
  open: (config: Config) => Promise<S>,
): Promise<TestStore<S>> {
  const dir = mkdtempSync(path.join(tmpdir(), "darkroom-store-"));
  const config = loadConfig({
    DARKROOM_DATA_DIR: dir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_BOOTSTRAP_CREDITS: credits,
  });
  const stores = await open(config);
  await bootstrapIfEmpty(stores.store, config);
  return {
    ...stores,
    principal: (await stores.store.findKeyByHash(hashApiKey(TEST_API_KEY)))!,
    dir,
    sqlitePath: config.sqlitePath,
    async close() {
      await stores.close();
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
