/**
 * The dispatcher against a real SQLite store, the real safe fetcher, a real DNS server
 * and a real HTTPS receiver: the address checks at send time, leases between two
 * dispatchers, shutdown mid-send and resuming from the database.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSafeClient,
  dnsServerResolve,
  parseOutboundAllow,
} from "../../src/net/safe-request.js";
import { SqliteOutbox } from "../../src/store/sqlite/outbox.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { WebhookDispatcher } from "../../src/webhooks/dispatcher.js";
import { safeWebhookSender } from "../../src/webhooks/sender.js";
import { HOSTILE_URLS } from "../net/hostile-urls.js";
import { startDns, type TestDns } from "../net/servers.js";
import { eventually, makeTestCa, startReceiver, type Receiver, type TestCa } from "./receiver.js";

let ca: TestCa;
let rx: Receiver;
let dns: TestDns;
let dir: string;
let store: SqliteStore;
let outbox: SqliteOutbox;
const log = pino({ level: "silent" });

beforeAll(async () => {
  ca = makeTestCa();
  rx = await startReceiver(ca);
  dns = await startDns({ "hooks.test": ["127.0.0.1"] });
  dir = mkdtempSync(path.join(tmpdir(), "darkroom-webhooks-"));
  store = new SqliteStore(path.join(dir, "darkroom.sqlite"));
  await store.migrate();
  outbox = new SqliteOutbox(store.raw());
  const db = store.raw();
  const now = Date.now();
  db.prepare(
    `INSERT INTO groups (name, multiplier_ppm, created_ms) VALUES ('default', 1000000, ?)`,
  ).run(now);
  db.prepare(
    `INSERT INTO accounts (id, name, group_name, webhook_secret, created_ms) VALUES ('acct_w', 'w', 'default', ?, ?)`,
  ).run(`whsec_${Buffer.alloc(24, 1).toString("base64")}`, now);
  db.prepare(
    `INSERT INTO api_keys (id, account_id, key_hash, prefix, created_ms) VALUES ('key_w', 'acct_w', 'h', 'sk-', ?)`,
  ).run(now);
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  await rx?.close();
  await dns?.close();
  ca?.remove();
});

let seq = 0;
/** A failed task and its outbox row, as the finisher leaves them. */
function seed(url: string): string {
  const n = ++seq;
  const taskId = `task-unified-1764000000-w${String(n).padStart(7, "0")}`;
  const now = Date.now();
  const db = store.raw();
  db.prepare(
    `INSERT INTO tasks (id, account_id, api_key_id, model, status, request, n, user_group, price_micros, multiplier_ppm,
       credits_reserved_micros, credits_used_micros, estimated_s, error_code, error_message, run_after_ms, created_s, created_ms, updated_ms, finished_ms)
     VALUES (?, 'acct_w', 'key_w', 'doubao-seedream-4.0', 'failed', '{}', 1, 'default', 1800000, 1000000,
       1800000, 0, 45, 'content_policy_violation', 'Refused.', ?, ?, ?, ?, ?)`,
  ).run(taskId, now, Math.floor(now / 1000), now, now, now);
  db.prepare(
    `INSERT INTO webhook_outbox (id, task_id, account_id, url, next_attempt_ms, created_ms) VALUES (?, ?, 'acct_w', ?, ?, ?)`,
  ).run(`msg_w${n}`, taskId, url, now, now);
  return `msg_w${n}`;
}

function dispatcher(opts: { allow?: string; timeoutMs?: number } = {}): WebhookDispatcher {
  const client = createSafeClient(parseOutboundAllow(opts.allow), {
    resolve: dnsServerResolve([dns.server]),
    ca: ca.caPem,
  });
  return new WebhookDispatcher(
    {
      webhooks: outbox,
      store,
      signLink: (k) => `https://files.example/${k}`,
      send: safeWebhookSender(client, { allowHttp: true }),
      log,
    },
    {
      concurrency: 8,
      pollIntervalMs: 20,
      leaseMs: 30_000,
      allowHttp: true,
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    },
  );
}

const settled = (id: string, timeoutMs = 20_000) =>
  eventually(
    async () => {
      const d = await outbox.getDelivery(id);
      return d && d.status !== "pending" ? d : undefined;
    },
    timeoutMs,
    `delivery ${id}`,
  );

describe("the address is checked at send time, on what the name resolves to", () => {
  it("a DNS name resolving to 127.0.0.1 is blocked: no connection, no retry", async () => {
    const d = dispatcher();
    d.start();
    try {
      const id = seed(`https://hooks.test:${rx.port}/rebind`);
      const done = await settled(id);
      expect(done.status).toBe("failed");
      expect(done.attemptList).toHaveLength(1);
      expect(done.attemptList[0]).toMatchObject({ errorKind: "blocked", statusCode: null });
      expect(done.attemptList[0]!.errorMessage).not.toContain("127.0.0.1");
      expect(dns.queries.some((q) => q.startsWith("hooks.test"))).toBe(true);
      expect(rx.arrivals("/rebind")).toHaveLength(0);
    } finally {
      await d.stop();
    }
  });

  it("control: the same name is delivered when the operator allows 127.0.0.1", async () => {
    const d = dispatcher({ allow: "127.0.0.1" });
    d.start();
    try {
      const id = seed(`https://hooks.test:${rx.port}/allowed`);
      expect((await settled(id)).status).toBe("delivered");
      expect(rx.arrivals("/allowed")).toHaveLength(1);
      expect(rx.arrivals("/allowed")[0]!.headers["webhook-id"]).toBe(id);
    } finally {
      await d.stop();
    }
  });

  it("every hostile URL stored in the outbox is refused at delivery, without a retry", async () => {
    const d = dispatcher();
    d.start();
    try {
      const ids = HOSTILE_URLS.map((h) => seed(h.url));
      for (const id of ids) {
        const done = await settled(id);
        expect(done.status, done.url).toBe("failed");
        expect(done.attemptList, done.url).toHaveLength(1);
        expect(["blocked", "invalid"], done.url).toContain(done.attemptList[0]!.errorKind);
      }
    } finally {
      await d.stop();
    }
  });
});

describe("leases and restarts", () => {
  it("two dispatchers on one database send each delivery once", async () => {
    const a = dispatcher({ allow: "127.0.0.1" });
    const b = dispatcher({ allow: "127.0.0.1" });
    a.start();
    b.start();
    try {
      const ids = Array.from({ length: 20 }, (_, i) => seed(`${rx.origin}/pair/${i}`));
      for (const id of ids) expect((await settled(id)).status).toBe("delivered");
      for (let i = 0; i < 20; i++) expect(rx.arrivals(`/pair/${i}`)).toHaveLength(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("a stop mid-send gives the delivery back uncounted; the next dispatcher sends it", async () => {
    rx.script("/interrupted", ["hang", 200]);
    const id = seed(`${rx.origin}/interrupted`);
    const a = dispatcher({ allow: "127.0.0.1" });
    a.start();
    await rx.waitFor("/interrupted", 1);
    await a.stop();
    const between = await outbox.getDelivery(id);
    expect(between).toMatchObject({ status: "pending", attempts: 0 });

    const b = dispatcher({ allow: "127.0.0.1" });
    b.start();
    try {
      const done = await settled(id);
      expect(done.status).toBe("delivered");
      expect(done.attemptList.map((x) => x.attempt)).toEqual([1]);
      expect(rx.arrivals("/interrupted")).toHaveLength(2);
    } finally {
      await b.stop();
    }
  });
});
