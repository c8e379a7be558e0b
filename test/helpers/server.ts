/**
 * Starts a real Darkroom (HTTP on a loopback port, SQLite and files in a fresh temp
 * dir) for one test file, and a tiny client for it. Nothing is mocked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../../src/config/config.js";
import { startDarkroom, type Darkroom, type StartOptions } from "../../src/server/darkroom.js";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";

export const TEST_API_KEY = "sk-test0000000000000000000000000000000000main";
export const TEST_ADMIN_TOKEN = "dra-test-admin-token-0000000000000000";

export interface TestServer {
  url: string;
  dr: Darkroom;
  dataDir: string;
  apiKey: string;
  store: SqliteStore;
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

export async function startTestServer(
  env: Record<string, string> = {},
  opts: StartOptions = {},
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
  const dr = await startDarkroom(config, pino({ level: config.logLevel }), opts);
  return {
    url: dr.url,
    dr,
    dataDir,
    apiKey: TEST_API_KEY,
    store: dr.store as SqliteStore,
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

/** Inserts a second account with its own key straight into the store (admin API arrives later). */
export function addAccount(
  store: SqliteStore,
  opts: {
    name: string;
    key: string;
    credits: number;
    allowedModels?: string[];
    creditLimit?: number;
    group?: string;
  },
): string {
  const db = store.raw();
  const id = `acct_${opts.name}`;
  const now = Date.now();
  const micros = Math.round(opts.credits * 1e6);
  db.prepare(
    `INSERT INTO accounts (id, name, group_name, balance_micros, webhook_secret, created_ms) VALUES (?, ?, ?, ?, 'whsec_test', ?)`,
  ).run(id, opts.name, opts.group ?? "default", micros, now);
  db.prepare(
    `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
     VALUES (?, 'topup', ?, ?, 0, 'test', ?)`,
  ).run(id, micros, micros, now);
  db.prepare(
    `INSERT INTO api_keys (id, account_id, key_hash, prefix, allowed_models, credit_limit_micros, created_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    `key_${opts.name}`,
    id,
    hash(opts.key),
    opts.key.slice(0, 10),
    opts.allowedModels ? JSON.stringify(opts.allowedModels) : null,
    opts.creditLimit === undefined ? null : Math.round(opts.creditLimit * 1e6),
    now,
  );
  return id;
}

import { createHash } from "node:crypto";
function hash(k: string): string {
  return createHash("sha256").update(k).digest("hex");
}

/** Checks the ledger against the balances: the money invariants every test should keep. */
export function ledgerInvariants(store: SqliteStore): void {
  const db = store.raw();
  const accounts = db
    .prepare(`SELECT id, balance_micros, held_micros, used_micros FROM accounts`)
    .all() as Array<{
    id: string;
    balance_micros: number;
    held_micros: number;
    used_micros: number;
  }>;
  for (const a of accounts) {
    const sum = (kind: string) =>
      (
        db
          .prepare(
            `SELECT COALESCE(SUM(amount_micros), 0) AS s FROM ledger_entries WHERE account_id = ? AND kind = ?`,
          )
          .get(a.id, kind) as { s: number }
      ).s;
    const credited = sum("topup") + sum("adjust");
    const captured = sum("capture");
    const held = sum("reserve") - captured - sum("release");
    if (a.balance_micros !== credited - captured)
      throw new Error(
        `account ${a.id}: balance ${a.balance_micros} ≠ ledger ${credited - captured}`,
      );
    if (a.held_micros !== held)
      throw new Error(`account ${a.id}: held ${a.held_micros} ≠ ledger ${held}`);
    if (a.used_micros !== captured)
      throw new Error(`account ${a.id}: used ${a.used_micros} ≠ captured ${captured}`);
  }
  const open = db
    .prepare(
      `SELECT COALESCE(SUM(credits_reserved_micros), 0) AS s FROM tasks WHERE status IN ('pending', 'processing')`,
    )
    .get() as { s: number };
  const held = db.prepare(`SELECT COALESCE(SUM(held_micros), 0) AS s FROM accounts`).get() as {
    s: number;
  };
  if (open.s !== held.s) throw new Error(`held ${held.s} ≠ reservations of open tasks ${open.s}`);
  const badTerminal = db
    .prepare(
      `SELECT t.id FROM tasks t WHERE t.status IN ('completed', 'failed') AND
         (SELECT COUNT(*) FROM ledger_entries l WHERE l.task_id = t.id AND l.kind IN ('capture', 'release')) <> 2`,
    )
    .all();
  if (badTerminal.length)
    throw new Error(
      `terminal tasks without exactly one capture+release: ${JSON.stringify(badTerminal)}`,
    );
}
