/**
 * Starts a real Darkroom (HTTP on a loopback port, SQLite and files in a fresh temp
 * dir) for one test file, and a tiny client for it. Nothing is mocked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DestinationStream } from "pino";
import { createLogger } from "../../src/obs/logger.js";
import { hashApiKey } from "../../src/core/credentials.js";
import { loadConfig } from "../../src/config/config.js";
import { startDarkroom, type Darkroom, type StartOptions } from "../../src/server/darkroom.js";
import type { AdminStore, KeySettings } from "../../src/store/admin.js";
import type { ChannelStore } from "../../src/store/channels.js";
import type { Store, TaskRecord } from "../../src/store/store.js";
import type { WebhookStore } from "../../src/store/webhooks.js";

export const TEST_API_KEY = "sk-test0000000000000000000000000000000000main";
export const TEST_ADMIN_TOKEN = "dra-test-admin-token-0000000000000000";

export interface TestServer {
  url: string;
  dr: Darkroom;
  dataDir: string;
  apiKey: string;
  /** The server's own stores: tests read state and money through these interfaces. */
  store: Store;
  admin: AdminStore;
  outbox: WebhookStore;
  channels: ChannelStore;
  api: (p: string, init?: ApiInit) => Promise<ApiResponse>;
  stop(): Promise<void>;
}

export interface ApiInit {
  method?: string;
  body?: unknown;
  rawBody?: string | Buffer;
  key?: string | null;
  headers?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into JSON bodies
  json: any;
  text: string;
}

export async function request(
  url: string,
  init: ApiInit = {},
  defaultKey?: string,
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const key = init.key === undefined ? defaultKey : init.key;
  if (key) headers.authorization = `Bearer ${key}`;
  let body: string | Buffer | undefined;
  if (init.rawBody !== undefined) body = init.rawBody;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(url, {
    method: init.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export interface TestStartOptions extends StartOptions {
  /** Where the server's log lines go (with LOG_LEVEL set in `env`); stdout by default. */
  logTo?: DestinationStream;
}

export async function startTestServer(
  env: Record<string, string> = {},
  { logTo, ...opts }: TestStartOptions = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "darkroom-test-"));
  const config = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    DARKROOM_DATA_DIR: dataDir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DARKROOM_SANDBOX_DURATION_MS: "50",
    DARKROOM_POLL_INTERVAL_MS: "20",
    // The key cache stays at its default (on), as users run it: a test about what the
    // cache changes sets DARKROOM_AUTH_CACHE_MS itself.
    LOG_LEVEL: "silent",
    ...env,
  });
  // The logger users run (with its redaction), not a bare pino.
  const dr = await startDarkroom(config, createLogger(config, logTo), opts);
  return {
    url: dr.url,
    dr,
    dataDir,
    apiKey: TEST_API_KEY,
    store: dr.store,
    admin: dr.admin,
    outbox: dr.outbox,
    channels: dr.channelStore,
    api: (p, init) => request(dr.url + p, init, TEST_API_KEY),
    async stop() {
      await dr.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Makes the server's key cache hold `key` (on by default): one request
 * that authenticates and changes nothing. After it, the key's plain polls and
 * submissions are served by the fast paths.
 */
export async function warmKeyCache(s: Pick<TestServer, "api">, key: string): Promise<void> {
  await s.api("/v1/tasks/task-unified-1-zzzzzzzz", { key });
}

/** Polls a task until it is terminal (bounded), returning every observed view. */
export async function waitForTask(
  s: Pick<TestServer, "api">,
  id: string,
  key?: string,
  timeoutMs = 20_000,
): Promise<{ final: ApiResponse["json"]; seen: Array<ApiResponse["json"]> }> {
  const seen: Array<ApiResponse["json"]> = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await s.api(`/v1/tasks/${id}`, key ? { key } : {});
    if (r.status !== 200) throw new Error(`poll ${id}: HTTP ${r.status} ${r.text}`);
    seen.push(r.json);
    if (r.json.status === "completed" || r.json.status === "failed") return { final: r.json, seen };
    await new Promise((res) => setTimeout(res, 15));
  }
  throw new Error(`task ${id} did not finish within ${timeoutMs} ms`);
}

/** Adds a second account with its own key (and its credits), through the admin store. */
export async function addAccount(
  admin: AdminStore,
  opts: {
    name: string;
    key: string;
    credits: number;
    allowedModels?: string[];
    creditLimit?: number;
    group?: string;
    /** More key settings (rpm limit, concurrency, expiry). */
    keySettings?: KeySettings;
  },
): Promise<string> {
  const id = `acct_${opts.name}`;
  const nowMs = Date.now();
  const ok = <T>(r: { ok: true; value: T } | { ok: false; reason: string }, what: string): T => {
    if (!r.ok) throw new Error(`addAccount ${opts.name}: ${what} refused (${r.reason})`);
    return r.value;
  };
  ok(
    await admin.createAccount({
      id,
      name: opts.name,
      group: opts.group ?? "default",
      webhookSecret: "whsec_test",
      nowMs,
    }),
    "account",
  );
  const micros = Math.round(opts.credits * 1e6);
  if (micros !== 0)
    ok(
      await admin.moveCredits(id, { kind: "topup", amountMicros: micros, reason: "test", nowMs }),
      "credits",
    );
  ok(
    await admin.createKey({
      id: `key_${opts.name}`,
      accountId: id,
      hash: hashApiKey(opts.key),
      prefix: opts.key.slice(0, 10),
      settings: {
        allowedModels: opts.allowedModels ?? null,
        creditLimitMicros:
          opts.creditLimit === undefined ? null : Math.round(opts.creditLimit * 1e6),
        ...opts.keySettings,
      },
      nowMs,
    }),
    "key",
  );
  return id;
}

/**
 * The money invariants every test should keep, as the store itself re-derives them
 * (AdminStore.checkLedger): balances, holds and usage agree with the ledger, holds with
 * the open tasks, and every finished task was settled exactly once.
 */
export async function ledgerInvariants(admin: AdminStore): Promise<void> {
  const problems = await admin.checkLedger();
  if (problems.length > 0) throw new Error(`ledger problems: ${JSON.stringify(problems)}`);
}

/** How many tasks the account has, in any state (through the store's listing). */
export async function countTasks(store: Store, accountId: string): Promise<number> {
  const q = { status: null, model: null, pageSize: 1, start: { page: 1 } };
  return (await store.listTasks(accountId, q)).total;
}

/** The bootstrap account's id (TEST_API_KEY's account). */
export async function defaultAccountId(s: Pick<TestServer, "store">): Promise<string> {
  const principal = await s.store.findKeyByHash(hashApiKey(TEST_API_KEY));
  if (!principal) throw new Error("TEST_API_KEY is not in the store");
  return principal.accountId;
}

/** The bootstrap account's tasks whose prompt is exactly `prompt` (through the stores). */
export async function tasksWithPrompt(
  s: Pick<TestServer, "store" | "admin">,
  prompt: string,
): Promise<TaskRecord[]> {
  const { data } = await s.store.listTasks(await defaultAccountId(s), {
    status: null,
    model: null,
    pageSize: 100,
    start: { page: 1 },
  });
  const records = await Promise.all(data.map((t) => s.admin.findTask(t.id)));
  return records.filter((r): r is TaskRecord => r?.request.prompt === prompt);
}
