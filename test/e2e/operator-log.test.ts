/**
 * The operator's log at the default level (issue 15, item 6): one line per task
 * lifecycle event with its ids, one per callback attempt, an audit line per admin change
 * with before/after for money, and nothing secret anywhere in it. Read from the
 * server's own logger (with its redaction), as `darkroom serve` writes it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defaultAccountId,
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  TEST_API_KEY,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

const METRICS_TOKEN = "metrics-token-for-the-log-test-0001";
const MODEL = "doubao-seedream-4.0";

type Line = Record<string, unknown>;
const raw: string[] = [];
const lines = (): Line[] => raw.map((l) => JSON.parse(l) as Line);
const events = (event: string, taskId?: string) =>
  lines().filter((l) => l.event === event && (taskId === undefined || l.taskId === taskId));

let s: TestServer;
let receiver: Server;
let hookUrl = "";

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end("ok"));
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=receiver-own-secret`;
  s = await startTestServer(
    {
      // The default level, as an operator runs it; no access log (its own switch).
      LOG_LEVEL: "info",
      DARKROOM_METRICS_TOKEN: METRICS_TOKEN,
      DARKROOM_ALLOW_HTTP_CALLBACKS: "true",
      DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
    },
    { logTo: { write: (l: string) => void raw.push(l) } },
  );
});
afterAll(async () => {
  await s?.stop();
  await new Promise((r) => receiver?.close(r));
});

const admin = (p: string, init: { method?: string; body?: unknown } = {}) =>
  request(`${s.url}/admin/v1${p}`, { ...init, key: TEST_ADMIN_TOKEN });

async function eventually<T>(read: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = read();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("the operator's log", () => {
  const secrets: string[] = [TEST_API_KEY, TEST_ADMIN_TOKEN, METRICS_TOKEN, "receiver-own-secret"];

  it("has one line per task lifecycle event, with the task's and the request's ids", async () => {
    const tasks = 4;
    const ids: Array<{ id: string; reqId: string }> = [];
    for (let i = 0; i < tasks; i++) {
      const r = await s.api("/v1/images/generations", {
        body: { model: MODEL, prompt: `logged ${i}`, n: 2, size: "16:9", quality: "1K" },
      });
      expect(r.status).toBe(200);
      ids.push({ id: r.json.id, reqId: r.headers.get("x-request-id")! });
    }
    const failed = await s.api("/v1/images/generations", {
      body: { model: MODEL, prompt: "[sandbox:fail=content_policy_violation] no" },
    });
    for (const { id } of ids) await waitForTask(s, id, undefined, 60_000);
    const final = (await waitForTask(s, failed.json.id)).final;
    expect(final.status).toBe("failed");
    await eventually(
      () => (events("task.finished").length === tasks + 1 ? true : undefined),
      "every finish logged",
    );

    for (const { id, reqId } of ids) {
      const submitted = events("task.submitted", id);
      expect(submitted).toHaveLength(1);
      expect(submitted[0]).toMatchObject({
        level: 30,
        msg: "task submitted",
        reqId,
        model: MODEL,
        reservedCredits: 3.6,
        keyId: expect.any(String),
        accountId: expect.any(String),
      });
      const claimed = events("task.claimed", id);
      expect(claimed).toHaveLength(1);
      expect(claimed[0]).toMatchObject({ model: MODEL, attempt: 1, waitedMs: expect.any(Number) });
      const call = events("task.upstream_finished", id);
      expect(call).toHaveLength(1);
      expect(call[0]).toMatchObject({
        channel: `sandbox:${MODEL}`,
        provider: "sandbox",
        attempt: 1,
        outcome: "ok",
        images: 2,
        durationMs: expect.any(Number),
      });
      const finished = events("task.finished", id);
      expect(finished).toHaveLength(1);
      expect(finished[0]).toMatchObject({
        status: "completed",
        model: MODEL,
        attempt: 1,
        channel: `sandbox:${MODEL}`,
        chargedCredits: 3.6,
        durationMs: expect.any(Number),
      });
      expect(finished[0]!.code).toBeUndefined();
    }
    const bad = events("task.finished", failed.json.id);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({
      status: "failed",
      code: "content_policy_violation",
      chargedCredits: 0,
    });
    expect(events("task.upstream_finished", failed.json.id)[0]).toMatchObject({
      outcome: "error",
      code: "content_policy_violation",
    });
    // Upstream starts are for debugging (LOG_LEVEL=debug), and the access log is off.
    expect(events("task.upstream_started")).toHaveLength(0);
    expect(lines().filter((l) => l.msg === "request")).toHaveLength(0);
  });

  it("has one line per callback attempt, without the callback URL's query", async () => {
    const r = await s.api("/v1/images/generations", {
      body: { model: MODEL, prompt: "called back", callback_url: hookUrl },
    });
    expect(r.status).toBe(200);
    const line = await eventually(() => events("webhook.attempt", r.json.id)[0], "the attempt");
    expect(line).toMatchObject({
      level: 30,
      msg: "webhook delivered",
      outcome: "delivered",
      statusCode: 200,
      attempt: 1,
      deliveryId: expect.any(String),
      latencyMs: expect.any(Number),
    });
    expect(events("webhook.attempt", r.json.id)).toHaveLength(1);
  });

  it("audits every admin change: who, what, the target, and balances before and after", async () => {
    const accountId = await defaultAccountId(s);
    const balance = (await admin(`/accounts/${accountId}`)).json.balance as number;
    const topup = await admin(`/accounts/${accountId}/credits`, {
      body: { kind: "topup", amount: "12.5", reason: "invoice 1042" },
    });
    expect(topup.status).toBe(200);
    const key = await admin(`/accounts/${accountId}/keys`, { body: { credit_limit: "5" } });
    expect(key.status).toBe(200);
    secrets.push(key.json.key);
    const rotated = await admin(`/accounts/${accountId}/webhook-secret/rotate`, { method: "POST" });
    secrets.push(rotated.json.secret);
    const read = await admin(`/accounts/${accountId}/webhook-secret`);
    expect(read.json.secret).toBe(rotated.json.secret);
    expect(
      (await admin(`/models/${MODEL}/price`, { method: "PUT", body: { price: "2" } })).status,
    ).toBe(200);
    const refused = await admin(`/accounts/${accountId}/credits`, {
      body: { kind: "adjust", amount: "-100000", reason: "too much" },
    });
    expect(refused.status).toBe(400);
    // Not the admin: not audited (changed nothing; an anonymous caller cannot fill the log).
    await request(`${s.url}/admin/v1/accounts/${accountId}/credits`, {
      body: { kind: "topup", amount: "1", reason: "x" },
      key: "dra-not-the-admin-token-00000000000",
    });
    const audit = await eventually(
      () => (events("admin.audit").length >= 6 ? events("admin.audit") : undefined),
      "the audit lines",
    );
    expect(audit).toHaveLength(6);
    for (const l of audit)
      expect(l).toMatchObject({
        level: 30,
        who: "admin",
        reqId: expect.any(String),
        ip: "127.0.0.1",
      });

    expect(audit[0]).toMatchObject({
      action: "POST /admin/v1/accounts/:id/credits",
      params: { id: accountId },
      status: 200,
      kind: "topup",
      amount: 12.5,
      reason: "invoice 1042",
      balanceBefore: balance,
      balanceAfter: balance + 12.5,
      ledgerEntryId: expect.any(Number),
    });
    expect(audit[1]).toMatchObject({
      action: "POST /admin/v1/accounts/:id/keys",
      params: { id: accountId },
      keyId: key.json.id,
      changed: { credit_limit: 5 },
    });
    expect(audit[2]).toMatchObject({
      action: "POST /admin/v1/accounts/:id/webhook-secret/rotate",
      params: { id: accountId },
      status: 200,
    });
    expect(audit[3]).toMatchObject({
      action: "GET /admin/v1/accounts/:id/webhook-secret",
      read: "webhook_secret",
    });
    expect(audit[4]).toMatchObject({
      action: "PUT /admin/v1/models/:id/price",
      params: { id: MODEL },
      before: { price: 1.8 },
      after: { price: 2 },
    });
    expect(audit[5]).toMatchObject({
      action: "POST /admin/v1/accounts/:id/credits",
      status: 400,
    });
    // Reads change nothing and are not audited (the secret read above is the exception).
    expect(audit.filter((l) => l.action === "GET /admin/v1/accounts/:id")).toHaveLength(0);
  });

  it("holds no secret: keys, tokens, webhook secrets, signed links, callback tokens", async () => {
    const r = await s.api("/v1/images/generations", { body: { model: MODEL, prompt: "linked" } });
    const done = (await waitForTask(s, r.json.id)).final;
    const sig = new URL(done.results[0]).searchParams.get("sig")!;
    expect(sig.length).toBeGreaterThan(10);
    await request(`${s.url}/metrics`, { key: METRICS_TOKEN });
    await request(`${s.url}/metrics`, { key: "wrong-metrics-token-000000000" });
    const all = raw.join("\n");
    expect(raw.length).toBeGreaterThan(20);
    for (const secret of [...secrets, sig]) expect(all).not.toContain(secret);
  });
});
