/**
 * Channels end to end: a real server whose DARKROOM_CONFIG routes test models to a
 * scripted fake upstream (registered through startDarkroom's extraProviders hook).
 * Failover order, one charge whatever happens, the breaker, capacity queuing, 503
 * with no enabled channel, cancel semantics, the task listing and the admin API.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  addAccount,
  ledgerInvariants,
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";
import { FakeUpstream } from "./fake-upstream.js";

const SECRET = "fake-secret-value-9f8e7d";
const ADMIN_SECRET = "admin-made-secret-1a2b3c";
const fake = new FakeUpstream();
const cfgDir = mkdtempSync(path.join(tmpdir(), "darkroom-routing-"));
let s: TestServer;

const model = (id: string) => ({ id, extends: "doubao-seedream-4.0", price: "1" });
const channel = (id: string, m: string, extra: Record<string, unknown> = {}) => ({
  id,
  model: m,
  provider: "fake",
  api_key_env: "FAKE_KEY",
  upstream_model: `up-${id}`,
  ...extra,
});

beforeAll(async () => {
  const file = path.join(cfgDir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({
      models: [
        "m-fo",
        "m-br",
        "m-cap",
        "m-off",
        "m-stuck",
        "m-race",
        "m-admin",
        "m-hang",
        "m-429",
      ].map(model),
      breaker: { failure_threshold: 2, cool_down_ms: 400 },
      channels: [
        channel("fo-1", "m-fo", { priority: 0 }),
        channel("fo-2", "m-fo", { priority: 1 }),
        channel("fo-3", "m-fo", { priority: 2 }),
        channel("br-1", "m-br", { priority: 0 }),
        channel("br-2", "m-br", { priority: 1 }),
        channel("cap-1", "m-cap", { max_concurrency: 1 }),
        channel("off-1", "m-off", { enabled: false }),
        channel("stuck-1", "m-stuck", { provider: "fake-stuck" }),
        channel("race-1", "m-race", { max_concurrency: 4 }),
        channel("hang-1", "m-hang", { priority: 0, timeout_ms: 150 }),
        channel("hang-2", "m-hang", { priority: 1 }),
        channel("429-1", "m-429"),
      ],
    }),
  );
  s = await startTestServer(
    {
      DARKROOM_CONFIG: file,
      FAKE_KEY: SECRET,
      ADMIN_KEY: ADMIN_SECRET,
      DARKROOM_RUNNER_CONCURRENCY: "8",
    },
    {
      extraProviders: [
        fake.provider("fake", { canCancel: true }),
        fake.provider("fake-stuck", { canCancel: false }),
      ],
    },
  );
});
afterAll(async () => {
  await ledgerInvariants(s.admin);
  await s.stop();
  rmSync(cfgDir, { recursive: true, force: true });
});

const submit = (m: string, prompt: string, n = 1) =>
  s.api("/v1/images/generations", { body: { model: m, prompt, n, size: "1K" } });
const admin = (p: string, init: { method?: string; body?: unknown } = {}) =>
  request(s.url + p, { ...init, key: TEST_ADMIN_TOKEN });
const ledgerKinds = async (taskId: string) =>
  (await s.admin.listLedger({ taskId }, { pageSize: 100, start: { page: 1 } })).data
    .map((e) => e.kind)
    .reverse();
async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("failover", () => {
  // Failures open the breakers (threshold 2): start each case with none open.
  beforeEach(async () => {
    for (const id of ["fo-1", "fo-2", "fo-3"])
      await until(`${id} not open`, async () => {
        const h = (await admin(`/admin/v1/channels/${id}`)).json.health;
        return h.state !== "open" || undefined;
      });
  });

  it("tries channels in priority order and charges once, for the images stored", async () => {
    fake.script("fo-1", { kind: "error", code: "service_error", retryable: true });
    fake.script("fo-2", { kind: "error", code: "resource_exhausted", retryable: true });
    const t = await submit("m-fo", "failover order", 2);
    expect(t.status).toBe(200);
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({
      status: "completed",
      usage: { credits_reserved: 2, credits_used: 2 },
    });
    expect(final.results).toHaveLength(2);
    expect(fake.channelsFor("failover order")).toEqual(["fo-1", "fo-2", "fo-3"]);
    expect(await ledgerKinds(t.json.id)).toEqual(["reserve", "capture", "release"]);
    // The provider got the channel's settings, secret included.
    const call = fake.calls.find((c) => c.prompt === "failover order" && c.channel === "fo-3")!;
    expect(call).toMatchObject({ apiKey: SECRET, upstreamModel: "up-fo-3" });
  });

  it("when every channel fails retryably, fails with the last error's code and refunds", async () => {
    fake.script("fo-1", { kind: "error", code: "service_error", retryable: true });
    fake.script("fo-2", { kind: "error", code: "service_error", retryable: true });
    fake.script("fo-3", { kind: "error", code: "resource_exhausted", retryable: true });
    const t = await submit("m-fo", "all fail");
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({
      status: "failed",
      error: { code: "resource_exhausted" },
      usage: { credits_used: 0 },
    });
    expect(fake.channelsFor("all fail")).toEqual(["fo-1", "fo-2", "fo-3"]);
    expect(await ledgerKinds(t.json.id)).toEqual(["reserve", "capture", "release"]);
  });

  it("never retries elsewhere what may have been charged upstream", async () => {
    fake.script("fo-1", {
      kind: "error",
      code: "service_error",
      retryable: true,
      mayHaveCharged: true,
    });
    const t = await submit("m-fo", "maybe charged");
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({ status: "failed", error: { code: "service_error" } });
    expect(fake.channelsFor("maybe charged")).toEqual(["fo-1"]);
  });

  it("a non-retryable error (the caller's fault) is not retried", async () => {
    fake.script("fo-1", { kind: "error", code: "content_policy_violation", retryable: false });
    const t = await submit("m-fo", "blocked");
    const { final } = await waitForTask(s, t.json.id);
    expect(final.error.code).toBe("content_policy_violation");
    expect(fake.channelsFor("blocked")).toEqual(["fo-1"]);
  });

  it("after an image was delivered, finishes with what it has instead of failing over", async () => {
    fake.script("fo-1", { kind: "error", code: "service_error", retryable: true, afterImages: 1 });
    const t = await submit("m-fo", "partial", 3);
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({
      status: "completed",
      usage: { credits_reserved: 3, credits_used: 1 },
    });
    expect(final.results).toHaveLength(1);
    expect(fake.channelsFor("partial")).toEqual(["fo-1"]);
    expect(await ledgerKinds(t.json.id)).toEqual(["reserve", "capture", "release"]);
  });
});

describe("time limit", () => {
  it("a call past timeout_ms is aborted as generation_timeout and, as it may have billed, not repeated elsewhere", async () => {
    fake.script("hang-1", { kind: "hang" });
    const t = await submit("m-hang", "hangs");
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({
      status: "failed",
      error: { code: "generation_timeout" },
      usage: { credits_used: 0 },
    });
    expect(fake.channelsFor("hangs")).toEqual(["hang-1"]);
    const h = (await admin("/admin/v1/channels/hang-1")).json.health;
    expect(h).toMatchObject({ in_flight: 0, last_error: { code: "generation_timeout" } });
  });
});

describe("circuit breaker", () => {
  const health = async (id: string) => (await admin(`/admin/v1/channels/${id}`)).json.health;

  it("opens after consecutive failures, routes around, half-opens after the cool-down and closes on success", async () => {
    fake.script(
      "br-1",
      { kind: "error", code: "service_error", retryable: true },
      { kind: "error", code: "service_error", retryable: true },
    );
    for (const p of ["br a", "br b"]) {
      const t = await submit("m-br", p);
      expect((await waitForTask(s, t.json.id)).final.status).toBe("completed");
      expect(fake.channelsFor(p)).toEqual(["br-1", "br-2"]);
    }
    expect(await health("br-1")).toMatchObject({
      state: "open",
      failures: 2,
      recent_errors: { service_error: 2 },
      last_error: { code: "service_error" },
    });
    // While open, br-1 is skipped entirely.
    const t = await submit("m-br", "br c");
    await waitForTask(s, t.json.id);
    expect(fake.channelsFor("br c")).toEqual(["br-2"]);
    // After the cool-down one probe goes to br-1; its success closes the breaker.
    await until("half-open", async () => (await health("br-1")).state === "half-open");
    const probe = await submit("m-br", "br probe");
    await waitForTask(s, probe.json.id);
    expect(fake.channelsFor("br probe")).toEqual(["br-1"]);
    expect(await health("br-1")).toMatchObject({ state: "closed", successes: 1, failures: 2 });
  });

  it("a 429 with Retry-After opens the channel at once", async () => {
    fake.script("br-1", {
      kind: "error",
      code: "resource_exhausted",
      retryable: true,
      retryAfterMs: 60_000,
    });
    const t = await submit("m-br", "br 429");
    await waitForTask(s, t.json.id);
    expect(fake.channelsFor("br 429")).toEqual(["br-1", "br-2"]);
    const h = await health("br-1");
    expect(h.state).toBe("open");
    expect(h.open_until).toBeGreaterThan(Date.now() + 50_000);
  });
});

describe("a model whose only channel is rate limited", () => {
  const health = async (id: string) => (await admin(`/admin/v1/channels/${id}`)).json.health;

  // Issue 14: an open breaker delays; it does not refuse.
  it("fails the task that met the 429, queues the next ones as pending with a longer estimate, and runs them after Retry-After", async () => {
    fake.script("429-1", {
      kind: "error",
      code: "resource_exhausted",
      retryable: true,
      retryAfterMs: 4000,
    });
    const t = await submit("m-429", "limited");
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({ status: "failed", error: { code: "resource_exhausted" } });
    expect((await health("429-1")).state).toBe("open");
    const during = await Promise.all([submit("m-429", "during 1"), submit("m-429", "during 2")]);
    for (const r of during) {
      expect(r.status).toBe(200);
      expect(r.json.status).toBe("pending");
      // The breaker's reopening (up to 4 s) on top of the usual estimate.
      expect(r.json.task_info.estimated_time).toBeGreaterThan(t.json.task_info.estimated_time);
    }
    // Not claimed while the channel is open.
    const views = await Promise.all(during.map((r) => s.api(`/v1/tasks/${r.json.id}`)));
    expect(views.map((v) => v.json.status)).toEqual(["pending", "pending"]);
    for (const r of during)
      expect((await waitForTask(s, r.json.id)).final.status).toBe("completed");
    expect([...fake.channelsFor("during 1"), ...fake.channelsFor("during 2")]).toEqual([
      "429-1",
      "429-1",
    ]);
    expect((await health("429-1")).state).toBe("closed");
  });
});

describe("capacity", () => {
  it("max_concurrency 1 and 3 tasks: one in flight at a time, the rest stay pending, all complete; other models go ahead", async () => {
    // The upstream answers only once the test lets it: no race with the clock.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    fake.always("cap-1", { kind: "ok", delayMs: 20, until: released });
    const ts = await Promise.all([1, 2, 3].map((i) => submit("m-cap", `cap ${i}`)));
    // While the first runs, the others are not claimed.
    await until("one running", () => fake.callsTo("cap-1") === 1 || undefined);
    const views = await Promise.all(ts.map((t) => s.api(`/v1/tasks/${t.json.id}`)));
    expect(views.filter((v) => v.json.status === "pending")).toHaveLength(2);
    // A sandbox-served model is not blocked by the saturated one.
    const other = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "[sandbox:delay=0] meanwhile", size: "1K" },
    });
    const o = await waitForTask(s, other.json.id);
    expect(o.final.status).toBe("completed");
    expect(fake.callsTo("cap-1")).toBe(1);
    release();
    for (const t of ts) expect((await waitForTask(s, t.json.id)).final.status).toBe("completed");
    expect(fake.maxInFlight.get("cap-1")).toBe(1);
    expect(fake.callsTo("cap-1")).toBe(3);
    // The queued tasks were not claimed while waiting: one attempt each.
    const attempts = await Promise.all(
      ts.map(async (t) => (await s.admin.findTask(t.json.id))?.attempts),
    );
    expect(attempts).toEqual([1, 1, 1]);
  });
});

describe("availability", () => {
  it("503 service_unavailable when a model's channels are all disabled", async () => {
    const r = await submit("m-off", "nope");
    expect(r.status).toBe(503);
    expect(r.json.error).toMatchObject({ code: "service_unavailable", type: "api_error" });
  });
});

describe("cancel with channels", () => {
  it("an upstream that cannot stop: can_cancel turns false once it runs, and cancel is 409", async () => {
    fake.script("stuck-1", { kind: "ok", delayMs: 400 });
    const t = await submit("m-stuck", "stuck");
    expect(t.json.task_info.can_cancel).toBe(true);
    const running = await until("processing", async () => {
      const v = await s.api(`/v1/tasks/${t.json.id}`);
      return v.json.status === "processing" && !v.json.task_info.can_cancel ? v.json : undefined;
    });
    expect(running.task_info.can_cancel).toBe(false);
    const c = await s.api(`/v1/tasks/${t.json.id}/cancel`, { method: "POST" });
    expect(c.status).toBe(409);
    expect(c.json.error.code).toBe("task_not_cancellable");
    const { final } = await waitForTask(s, t.json.id);
    expect(final).toMatchObject({ status: "completed", usage: { credits_used: 1 } });
  });

  it("cancel racing completion on a fake channel: exactly one wins, the money follows", async () => {
    for (let i = 0; i < 8; i++) {
      fake.script("race-1", { kind: "ok", delayMs: 10 + i * 12 });
      const t = await submit("m-race", `race ${i}`);
      await new Promise((r) => setTimeout(r, 15 + i * 8));
      const c = await s.api(`/v1/tasks/${t.json.id}/cancel`, { method: "POST" });
      const { final } = await waitForTask(s, t.json.id);
      if (c.status === 200) {
        expect(final).toMatchObject({
          status: "failed",
          error: { code: "request_cancelled" },
          usage: { credits_used: 0 },
        });
      } else {
        expect(c.status).toBe(409);
        expect(final).toMatchObject({ status: "completed", usage: { credits_used: 1 } });
      }
      expect(await ledgerKinds(t.json.id)).toEqual(["reserve", "capture", "release"]);
    }
    await ledgerInvariants(s.admin);
  });
});

describe("GET /v1/tasks", () => {
  it("lists the account's tasks newest first, filtered and paged", async () => {
    const key = "sk-lister00000000000000000000000000000000000";
    await addAccount(s.admin, { name: "lister", key, credits: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.api("/v1/images/generations", {
        key,
        body: {
          model: i < 3 ? "doubao-seedream-4.0" : "m-race",
          prompt: `[sandbox:delay=0] list ${i}`,
          size: "1K",
        },
      });
      ids.push(r.json.id);
      await new Promise((r) => setTimeout(r, 3)); // distinct creation times
    }
    for (const id of ids) await waitForTask(s, id, key);
    const all = await s.api("/v1/tasks", { key });
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({ total: 5, page: 1, page_size: 20 });
    expect(all.json.data.map((t: { id: string }) => t.id)).toEqual([...ids].reverse());
    expect(all.json.data[0]).toMatchObject({
      object: "image.generation.task",
      status: "completed",
    });
    const page = await s.api("/v1/tasks?page=2&page_size=2", { key });
    expect(page.json.data.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    expect(page.json).toMatchObject({ total: 5, page: 2, page_size: 2 });
    const byModel = await s.api("/v1/tasks?model=m-race&status=completed", { key });
    expect(byModel.json.total).toBe(2);
    // The contract's own template: empty parameters are no filter, not an error.
    const blank = await s.api("/v1/tasks?status=&model=&page=&page_size=", { key });
    expect(blank.status).toBe(200);
    expect(blank.json).toMatchObject({ total: 5, page: 1, page_size: 20 });
    expect((await s.api("/v1/tasks?status=failed", { key })).json).toMatchObject({
      total: 0,
      data: [],
    });
    // Another account's tasks never show.
    expect(
      (await s.api("/v1/tasks?model=m-race", { key })).json.data.every((t: { id: string }) =>
        ids.includes(t.id),
      ),
    ).toBe(true);
  });

  it.each([
    ["page=0", "page"],
    ["page=x", "page"],
    ["page_size=0", "page_size"],
    ["page_size=101", "page_size"],
    ["status=cancelled", "status"],
  ])("?%s is 400 with param %s", async (q, param) => {
    const r = await s.api(`/v1/tasks?${q}`);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_request", param });
  });
});

describe("admin channels", () => {
  it("lists every channel with its health, and never echoes a secret", async () => {
    const r = await admin("/admin/v1/channels");
    expect(r.status).toBe(200);
    const race = r.json.data.find((c: { id: string }) => c.id === "race-1");
    expect(race).toMatchObject({
      object: "channel",
      source: "config",
      model: "m-race",
      provider: "fake",
      api_key_env: "FAKE_KEY",
      has_api_key: true,
      upstream_model: "up-race-1",
      max_concurrency: 4,
      health: { state: "closed", in_flight: 0, max_concurrency: 4, failures: 0 },
    });
    expect(race.health.successes).toBeGreaterThan(0);
    const fo1 = r.json.data.find((c: { id: string }) => c.id === "fo-1");
    expect(fo1.health.failures).toBeGreaterThan(0);
    expect(fo1.health.latency_ms.samples).toBeGreaterThan(0);
    expect(fo1.health.latency_ms.p50).toEqual(expect.any(Number));
    expect(fo1.health.latency_ms.p95).toEqual(expect.any(Number));
    // Models with no channel are served by the built-in sandbox, listed read-only.
    expect(
      r.json.data.find((c: { id: string }) => c.id === "sandbox:doubao-seedream-4.0"),
    ).toMatchObject({
      source: "builtin",
      provider: "sandbox",
    });
    expect(r.text).not.toContain(SECRET);
    const filtered = await admin("/admin/v1/channels?model=m-br");
    expect(filtered.json.data.map((c: { id: string }) => c.id)).toEqual(["br-1", "br-2"]);
    expect((await admin("/admin/v1/channels/nope")).status).toBe(404);
    expect((await request(`${s.url}/admin/v1/channels`, { key: s.apiKey })).status).toBe(401);
  });

  it("creates, changes and deletes a channel; changes take effect at once", async () => {
    // m-admin has no channel yet: the sandbox serves it.
    const before = await submit("m-admin", "[sandbox:delay=0] before");
    await waitForTask(s, before.json.id);
    expect(fake.channelsFor("[sandbox:delay=0] before")).toEqual([]);

    const created = await admin("/admin/v1/channels", {
      body: { ...channel("adm-1", "m-admin"), api_key_env: "ADMIN_KEY", max_concurrency: 2 },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({
      id: "adm-1",
      source: "admin",
      has_api_key: true,
      api_key_env: "ADMIN_KEY",
      max_concurrency: 2,
      enabled: true,
    });
    expect(created.text).not.toContain(ADMIN_SECRET);
    const t = await submit("m-admin", "via admin channel");
    await waitForTask(s, t.json.id);
    expect(fake.channelsFor("via admin channel")).toEqual(["adm-1"]);
    expect(fake.calls.find((c) => c.prompt === "via admin channel")?.apiKey).toBe(ADMIN_SECRET);

    const patched = await admin("/admin/v1/channels/adm-1", {
      method: "PATCH",
      body: { enabled: false, priority: 3 },
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ enabled: false, priority: 3 });
    expect((await submit("m-admin", "disabled now")).status).toBe(503);

    const del = await admin("/admin/v1/channels/adm-1", { method: "DELETE" });
    expect(del.json).toEqual({ id: "adm-1", object: "channel", deleted: true });
    expect((await admin("/admin/v1/channels/adm-1")).status).toBe(404);
    // No channel left: back to the sandbox.
    expect((await submit("m-admin", "[sandbox:delay=0] after")).status).toBe(200);
  });

  it("validates: unknown provider or model, unset secret, duplicate id, read-only config channels", async () => {
    const post = (body: unknown) => admin("/admin/v1/channels", { body });
    const expectBad = async (body: unknown, status: number, param?: string) => {
      const r = await post(body);
      expect(r.status, r.text).toBe(status);
      if (param) expect(r.json.error.param).toBe(param);
      return r;
    };
    await expectBad({ ...channel("x1", "m-admin"), provider: "nope" }, 400, "provider");
    await expectBad({ ...channel("x1", "nope") }, 400, "model");
    const unset = await expectBad(
      { ...channel("x1", "m-admin"), api_key_env: "NOT_SET_ANYWHERE" },
      400,
      "api_key_env",
    );
    expect(unset.json.error.message).toContain("NOT_SET_ANYWHERE");
    await expectBad({ ...channel("x1", "m-admin"), api_key: "inline" }, 400);
    await expectBad({ ...channel("x1", "m-admin"), weight: 0 }, 400, "weight");
    await expectBad(channel("fo-1", "m-admin"), 409);
    expect((await post(channel("dup-1", "m-admin"))).status).toBe(201);
    await expectBad(channel("dup-1", "m-admin"), 409);
    expect((await admin("/admin/v1/channels/dup-1", { method: "DELETE" })).status).toBe(200);
    const ro = await admin("/admin/v1/channels/fo-1", {
      method: "PATCH",
      body: { enabled: false },
    });
    expect(ro.status).toBe(409);
    expect(ro.json.error.message).toMatch(/config file/);
    expect((await admin("/admin/v1/channels/fo-1", { method: "DELETE" })).status).toBe(409);
    expect((await admin("/admin/v1/channels/nope", { method: "PATCH", body: {} })).status).toBe(
      404,
    );
  });
});
