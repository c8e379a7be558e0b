/**
 * The dispatcher against a real store (SQLite by default), the real safe fetcher, a real DNS server
 * and a real HTTPS receiver: the address checks at send time, leases between two
 * dispatchers, shutdown mid-send and resuming from the database.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSafeClient,
  dnsServerResolve,
  parseOutboundAllow,
} from "../../src/net/safe-request.js";
import type { Store } from "../../src/store/store.js";
import type { WebhookStore } from "../../src/store/webhooks.js";
import { WebhookDispatcher } from "../../src/webhooks/dispatcher.js";
import { safeWebhookSender } from "../../src/webhooks/sender.js";
import { openTestStore, submitInput, type TestStore } from "../helpers/store.js";
import { HOSTILE_URLS } from "../net/hostile-urls.js";
import { startDns, type TestDns } from "../net/servers.js";
import { eventually, makeTestCa, startReceiver, type Receiver, type TestCa } from "./receiver.js";

let ca: TestCa;
let rx: Receiver;
let dns: TestDns;
let opened: TestStore;
let store: Store;
let outbox: WebhookStore;
const log = pino({ level: "silent" });

beforeAll(async () => {
  ca = makeTestCa();
  rx = await startReceiver(ca);
  dns = await startDns({ "hooks.test": ["127.0.0.1"] });
  opened = await openTestStore("1000");
  ({ store, outbox } = opened);
});
afterAll(async () => {
  await opened?.close();
  await rx?.close();
  await dns?.close();
  ca?.remove();
});

/**
 * A failed task and its outbox row, as the finisher leaves them. The URL is stored
 * unchecked, as an older version or a looser configuration might have let it in.
 */
async function seed(url: string): Promise<string> {
  const input = submitInput(opened.principal);
  input.request = { ...input.request, callbackUrl: url };
  expect((await store.submitTask(input)).kind).toBe("created");
  const [claimed] = await store.claimTasks("seed", 1, 30_000, Date.now());
  expect(claimed?.task.id).toBe(input.taskId);
  const failed = { kind: "failed", code: "content_policy_violation", message: "Refused." } as const;
  expect(await store.finishTask(input.taskId, claimed!.leaseToken, failed, Date.now())).toBe(true);
  const { data } = await outbox.listDeliveries(
    { taskId: input.taskId },
    { pageSize: 1, start: { page: 1 } },
  );
  return data[0]!.id;
}

async function seedAll(urls: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const url of urls) ids.push(await seed(url));
  return ids;
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
      const id = await seed(`https://hooks.test:${rx.port}/rebind`);
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
      const id = await seed(`https://hooks.test:${rx.port}/allowed`);
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
      const ids = await seedAll(HOSTILE_URLS.map((h) => h.url));
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
      const ids = await seedAll(Array.from({ length: 20 }, (_, i) => `${rx.origin}/pair/${i}`));
      for (const id of ids) expect((await settled(id)).status).toBe("delivered");
      for (let i = 0; i < 20; i++) expect(rx.arrivals(`/pair/${i}`)).toHaveLength(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("a stop mid-send gives the delivery back uncounted; the next dispatcher sends it", async () => {
    rx.script("/interrupted", ["hang", 200]);
    const id = await seed(`${rx.origin}/interrupted`);
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
