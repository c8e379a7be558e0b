/**
 * Callback delivery end to end (issue 4): a real Darkroom sends signed callbacks to a
 * real HTTPS receiver whose certificate comes from a test CA. The receiver scripts its
 * answers per path, so the cases below run concurrently against one server.
 */
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";
import { eventually, makeTestCa, startReceiver, type Receiver, type TestCa } from "./receiver.js";

let ca: TestCa;
let rx: Receiver;
let s: TestServer;

beforeAll(async () => {
  ca = makeTestCa();
  rx = await startReceiver(ca);
  s = await startTestServer({
    DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
    DARKROOM_WEBHOOK_CA_FILE: ca.caFile,
  });
});
afterAll(async () => {
  await s?.stop();
  await rx?.close();
  ca?.remove();
});

const admin = (p: string, init: { method?: string; body?: unknown } = {}) =>
  request(s.url + "/admin/v1" + p, { ...init, key: TEST_ADMIN_TOKEN });

async function submit(
  callbackPath: string,
  prompt = "a lighthouse",
  key: string = s.apiKey,
): Promise<string> {
  const r = await s.api("/v1/images/generations", {
    key,
    body: {
      model: "doubao-seedream-4.0",
      prompt,
      callback_url: `${rx.origin}${callbackPath}`,
    },
  });
  expect(r.status, r.text).toBe(200);
  return r.json.id as string;
}

/** The delivery of a task once it is no longer pending, as the admin API lists it. */
async function settledDelivery(taskId: string, timeoutMs = 30_000) {
  return eventually(
    async () => {
      const r = await admin(`/webhooks?task_id=${taskId}`);
      const d = r.json.data[0];
      return d && d.status !== "pending" ? d : undefined;
    },
    timeoutMs,
    `the delivery of ${taskId} to settle`,
  );
}

async function accountSecret(name = "default"): Promise<{ accountId: string; secret: string }> {
  const accounts = await admin("/accounts");
  const accountId = accounts.json.data.find((a: { name: string }) => a.name === name).id;
  const r = await admin(`/accounts/${accountId}/webhook-secret`);
  expect(r.status).toBe(200);
  return { accountId, secret: r.json.secret };
}

const withoutQuery = (links: string[] | undefined) => links?.map((l) => l.split("?")[0]);

describe.concurrent("webhook delivery", () => {
  it("signs with Standard Webhooks; the body is the task JSON; the secret is readable by the owner", async () => {
    const taskId = await submit("/ok");
    const [arrival] = await rx.waitFor("/ok", 1);
    const { secret } = await accountSecret();

    // The standard verifier accepts it, and only with the account's secret.
    const verified = new Webhook(secret).verify(arrival!.body, arrival!.headers) as {
      id: string;
    };
    expect(verified.id).toBe(taskId);
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(24, 7).toString("base64")}`).verify(
        arrival!.body,
        arrival!.headers,
      ),
    ).toThrow();
    expect(arrival!.headers["content-type"]).toBe("application/json");

    // Same JSON as GET /v1/tasks/{id} (result links are signed at send time).
    const polled = (await waitForTask(s, taskId)).final;
    const sent = JSON.parse(arrival!.body);
    expect({ ...sent, results: withoutQuery(sent.results) }).toEqual({
      ...polled,
      results: withoutQuery(polled.results),
    });
    expect(sent.status).toBe("completed");
    expect(sent.results).toHaveLength(1);
    // The links in the callback work without a key.
    expect((await fetch(sent.results[0])).status).toBe(200);

    const d = await settledDelivery(taskId);
    expect(d.status).toBe("delivered");
    expect(arrival!.headers["webhook-id"]).toBe(d.id);
    expect(d.attempt_list).toHaveLength(1);
    expect(d.attempt_list[0]).toMatchObject({ attempt: 1, status_code: 200, error_kind: null });

    // The account owner reads the same secret with an API key.
    const own = await s.api("/v1/webhook-secret");
    expect(own.status).toBe(200);
    expect(own.json.secret).toBe(secret);
  });

  it("retries after 1 s, 2 s and 4 s with a stable webhook-id, and lists every attempt", async () => {
    rx.script("/flaky", [500, 500, 503, 200]);
    const taskId = await submit("/flaky");
    const arrivals = await rx.waitFor("/flaky", 4, 30_000);
    const gaps = arrivals.slice(1).map((a, i) => a.at - arrivals[i]!.at);
    [1000, 2000, 4000].forEach((expected, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(expected * 0.8);
      expect(gaps[i]).toBeLessThanOrEqual(expected * 3);
    });
    const ids = new Set(arrivals.map((a) => a.headers["webhook-id"]));
    expect(ids.size).toBe(1);
    // Each attempt is signed at its own time, and each verifies.
    const { secret } = await accountSecret();
    for (const a of arrivals)
      expect(() => new Webhook(secret).verify(a.body, a.headers)).not.toThrow();

    const d = await settledDelivery(taskId);
    expect(d.status).toBe("delivered");
    expect(d.attempts).toBe(4);
    expect(d.attempt_list.map((a: { status_code: number }) => a.status_code)).toEqual([
      500, 500, 503, 200,
    ]);
    expect(d.attempt_list.map((a: { error_kind: string | null }) => a.error_kind)).toEqual([
      "http_status",
      "http_status",
      "http_status",
      null,
    ]);
    const one = await admin(`/webhooks/${d.id}`);
    expect(one.status).toBe(200);
    expect(one.json.attempt_list).toHaveLength(4);
  });

  it("marks the delivery failed after 4 attempts; an operator re-queues it", async () => {
    rx.script("/down", [500, 500, 500, 500, 204]);
    const taskId = await submit(
      "/down",
      "fails then recovers [sandbox:fail=content_policy_violation]",
    );
    const failed = await settledDelivery(taskId);
    expect(failed.status).toBe("failed");
    expect(failed.attempts).toBe(4);
    expect(rx.arrivals("/down")).toHaveLength(4);
    // A failed task's callback carries its error.
    expect(JSON.parse(rx.arrivals("/down")[0]!.body)).toMatchObject({
      status: "failed",
      error: { code: "content_policy_violation" },
    });
    const listed = await admin(`/webhooks?status=failed&task_id=${taskId}`);
    expect(listed.json.total).toBe(1);

    const retry = await admin(`/webhooks/${failed.id}/retry`, { method: "POST" });
    expect(retry.status, retry.text).toBe(200);
    const again = await settledDelivery(taskId);
    expect(again.status).toBe("delivered");
    expect(again.attempts).toBe(5);
    expect(again.attempt_list.at(-1)).toMatchObject({ attempt: 5, status_code: 204 });
    // Only a failed delivery can be re-queued.
    expect((await admin(`/webhooks/${failed.id}/retry`, { method: "POST" })).status).toBe(409);
    expect((await admin(`/webhooks/msg_nope/retry`, { method: "POST" })).status).toBe(404);
  });

  it("does not follow a redirect: a 3xx is a failed attempt", async () => {
    rx.script("/moved", [{ redirect: `${rx.origin}/target`, status: 307 }, 200]);
    const taskId = await submit("/moved");
    const d = await settledDelivery(taskId);
    expect(d.status).toBe("delivered");
    expect(d.attempt_list[0]).toMatchObject({
      attempt: 1,
      status_code: 307,
      error_kind: "http_status",
    });
    expect(d.attempt_list[0].error_message).toMatch(/307 \(redirects are not followed\)/);
    expect(d.attempt_list[1].status_code).toBe(200);
    expect(rx.arrivals("/moved")).toHaveLength(2);
    expect(rx.arrivals("/target")).toHaveLength(0);
  });

  it("cuts a receiver that does not answer at 10 s, then retries", async () => {
    rx.script("/hang", ["hang", 200]);
    const taskId = await submit("/hang");
    const d = await settledDelivery(taskId, 25_000);
    expect(d.status).toBe("delivered");
    const [first, second] = d.attempt_list;
    expect(first.error_kind).toBe("timeout");
    expect(first.status_code).toBeNull();
    expect(first.latency_ms).toBeGreaterThanOrEqual(9_500);
    expect(first.latency_ms).toBeLessThan(13_000);
    expect(second.status_code).toBe(200);
  });

  it("a rotated secret signs the next deliveries; the old one no longer verifies", async () => {
    // Its own account, so the rotation does not race the other cases' verifications.
    const created = await admin("/accounts", { body: { name: "rotator", credits: "20" } });
    expect(created.status, created.text).toBe(200);
    const key = (await admin(`/accounts/${created.json.id}/keys`, { body: {} })).json.key as string;
    const { accountId, secret: before } = await accountSecret("rotator");
    const rotated = await admin(`/accounts/${accountId}/webhook-secret/rotate`, { method: "POST" });
    expect(rotated.status).toBe(200);
    const after = rotated.json.secret as string;
    expect(after).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(after).not.toBe(before);
    expect((await accountSecret("rotator")).secret).toBe(after);

    await submit("/rotated", "a lighthouse", key);
    const [a] = await rx.waitFor("/rotated", 1);
    expect(() => new Webhook(after).verify(a!.body, a!.headers)).not.toThrow();
    expect(() => new Webhook(before).verify(a!.body, a!.headers)).toThrow();
    expect(
      (await admin(`/accounts/acct_nope/webhook-secret/rotate`, { method: "POST" })).status,
    ).toBe(404);
  });

  it("a task without callback_url enqueues nothing", async () => {
    const r = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "no callback" },
    });
    expect(r.status).toBe(200);
    await waitForTask(s, r.json.id);
    const listed = await admin(`/webhooks?task_id=${r.json.id}`);
    expect(listed.status).toBe(200);
    expect(listed.json.total).toBe(0);
  });

  it("the admin API needs the admin token; an API key is refused", async () => {
    const r = await request(s.url + "/admin/v1/webhooks", { key: s.apiKey });
    expect(r.status).toBe(401);
    const q = await admin("/webhooks?status=bogus");
    expect(q.status).toBe(400);
    expect(q.json.error.param).toBe("status");
  });
});
