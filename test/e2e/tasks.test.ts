/**
 * A task's whole journey on embedded defaults: submit, poll until completed, download
 * the images through the signed links; plus the GET contract's error rows.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addAccount,
  defaultAccountId,
  ledgerInvariants,
  request,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

let s: TestServer;
const OTHER_KEY = "sk-other000000000000000000000000000000000x";

beforeAll(async () => {
  s = await startTestServer({ DARKROOM_SANDBOX_DURATION_MS: "300" });
  await addAccount(s.admin, { name: "other", key: OTHER_KEY, credits: 50 });
});
afterAll(async () => {
  await ledgerInvariants(s.admin);
  await s.stop();
});

const submit = (body: Record<string, unknown>, key?: string) =>
  s.api("/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", ...body },
    ...(key ? { key } : {}),
  });

describe("a task's journey", () => {
  it("goes pending → processing → completed with monotonic progress, and its images download", async () => {
    const sub = await submit({
      prompt: "a red fox in the snow",
      n: 2,
      size: "16:9",
      quality: "1K",
    });
    expect(sub.status).toBe(200);
    const { final, seen } = await waitForTask(s, sub.json.id);
    const order = ["pending", "processing", "completed", "failed"];
    for (let i = 1; i < seen.length; i++) {
      expect(order.indexOf(seen[i].status)).toBeGreaterThanOrEqual(
        order.indexOf(seen[i - 1].status),
      );
      expect(seen[i].progress).toBeGreaterThanOrEqual(seen[i - 1].progress);
      if (seen[i].status !== "completed") expect(seen[i].progress).toBeLessThan(100);
    }
    expect(final).toMatchObject({
      id: sub.json.id,
      status: "completed",
      progress: 100,
      task_info: { can_cancel: false },
      usage: {
        credits_reserved: 3.6,
        credits_used: 3.6,
        user_group: "default",
        billing_rule: "per_call",
      },
    });
    expect(final.error).toBeUndefined();
    expect(final.results).toHaveLength(2);
    for (const url of final.results as string[]) {
      expect(url.startsWith(s.url + "/files/")).toBe(true);
      const res = await fetch(url); // no API key
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(Number(res.headers.get("content-length"))).toBe(bytes.length);
      expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 1280, 720]);
    }
    const bal = await s.store.getBalance(s.dr.bootstrap.created ? await acct() : "");
    expect(bal!.usedMicros).toBeGreaterThanOrEqual(3_600_000);
  });

  it("charges only the images actually generated and releases the rest", async () => {
    const id = await acct();
    const before = await s.store.getBalance(id);
    const sub = await submit({ prompt: "partial [sandbox:generate=2]", n: 4, size: "1K" });
    expect(sub.json.usage.credits_reserved).toBe(7.2);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    expect(final.results).toHaveLength(2);
    expect(final.usage).toMatchObject({ credits_reserved: 7.2, credits_used: 3.6 });
    const after = await s.store.getBalance(id);
    expect(before!.balanceMicros - after!.balanceMicros).toBe(3_600_000);
    expect(after!.heldMicros).toBe(before!.heldMicros);
  });

  it("fails with the business code and refunds everything", async () => {
    const id = await acct();
    const before = await s.store.getBalance(id);
    const sub = await submit({
      prompt: "nope [sandbox:fail=content_policy_violation]",
      n: 2,
      size: "1K",
    });
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("failed");
    expect(final.error).toMatchObject({ code: "content_policy_violation", type: "task_error" });
    expect(typeof final.error.message).toBe("string");
    expect(final.results).toBeUndefined();
    expect(final.usage.credits_used).toBe(0);
    expect(final.progress).toBeLessThan(100);
    const after = await s.store.getBalance(id);
    expect(after!.balanceMicros).toBe(before!.balanceMicros);
  });

  it("renders the resolved size exactly for ratio × quality", async () => {
    const sub = await submit({ prompt: "tall", size: "9:21", quality: "1K" });
    const { final } = await waitForTask(s, sub.json.id);
    const bytes = Buffer.from(await (await fetch(final.results[0])).arrayBuffer());
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height]).toEqual([648, 1512]);
  });
});

describe("GET /v1/tasks/{id} errors", () => {
  it("400 invalid_task_id when the id does not start with task-unified-", async () => {
    const r = await s.api("/v1/tasks/abc");
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_task_id", type: "invalid_request_error" });
  });

  it("404 task_not_found for an unknown id", async () => {
    const r = await s.api("/v1/tasks/task-unified-1757165031-zzzzzzzz");
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe("task_not_found");
  });

  it("404 for another account's task, identical to an unknown one", async () => {
    const sub = await submit({ prompt: "mine" });
    const theirs = await s.api(`/v1/tasks/${sub.json.id}`, { key: OTHER_KEY });
    const unknown = await s.api(`/v1/tasks/task-unified-1757165031-zzzzzzzz`, { key: OTHER_KEY });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.code).toBe(unknown.json.error.code);
    expect(theirs.json.error.message.replace(sub.json.id, "ID")).toBe(
      unknown.json.error.message.replace("task-unified-1757165031-zzzzzzzz", "ID"),
    );
  });

  it("401 without a key", async () => {
    const r = await s.api("/v1/tasks/task-unified-1757165031-zzzzzzzz", { key: null });
    expect(r.status).toBe(401);
  });

  it("accepts a GET that carries Content-Type: application/json and no body", async () => {
    const sub = await submit({ prompt: "ct" });
    const r = await s.api(`/v1/tasks/${sub.json.id}`, {
      headers: { "content-type": "application/json" },
    });
    expect(r.status).toBe(200);
    expect(r.json.id).toBe(sub.json.id);
  });
});

describe("signed result links", () => {
  it("refuses tampered, expired and unsigned links with a JSON error, and 404s missing files", async () => {
    const sub = await submit({ prompt: "links", size: "1K" });
    const { final } = await waitForTask(s, sub.json.id);
    const good = new URL(final.results[0]);
    const variants: Array<[string, string, number]> = [];
    const tamperedSig = new URL(good);
    tamperedSig.searchParams.set(
      "sig",
      good.searchParams.get("sig")!.replace(/^./, (c) => (c === "A" ? "B" : "A")),
    );
    variants.push(["tampered signature", tamperedSig.toString(), 403]);
    const laterExp = new URL(good);
    laterExp.searchParams.set("exp", String(Number(good.searchParams.get("exp")) + 1000));
    variants.push(["extended expiry", laterExp.toString(), 403]);
    const otherFile = new URL(good.toString().replace(/0\.jpg/, "1.jpg"));
    variants.push(["other file with this signature", otherFile.toString(), 403]);
    const expired = new URL(good);
    expired.searchParams.set("exp", "1000");
    variants.push(["expired", expired.toString(), 403]);
    const unsigned = new URL(good);
    unsigned.search = "";
    variants.push(["unsigned", unsigned.toString(), 403]);
    for (const [name, url, status] of variants) {
      const r = await request(url);
      expect(r.status, name).toBe(status);
      expect(r.json.error.code, name).toBe("forbidden");
    }
    const traversal = await request(`${s.url}/files/..%2f..%2fetc%2fpasswd?exp=9999999999&sig=x`);
    expect([403, 404]).toContain(traversal.status);
    expect(traversal.json.error).toBeDefined();
  });

  it("stay valid for the configured time", async () => {
    const sub = await submit({ prompt: "ttl", size: "1K" });
    const { final } = await waitForTask(s, sub.json.id);
    const exp = Number(new URL(final.results[0]).searchParams.get("exp"));
    const now = Math.floor(Date.now() / 1000);
    expect(exp).toBeGreaterThanOrEqual(now + 86_400 - 5);
    expect(exp).toBeLessThanOrEqual(now + 86_400 + 5);
  });
});

function acct(): Promise<string> {
  return defaultAccountId(s);
}
