/**
 * 500 and 503 through the real app factory with a deliberately broken dependency:
 * the client gets the JSON shape with no internals, and the log gets the details.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DurationEstimator } from "../../src/core/estimate.js";
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import { buildApp } from "../../src/http/app.js";
import { hashApiKey } from "../../src/core/credentials.js";
import { KeyCache } from "../../src/http/plugins/auth.js";
import { FsStorage } from "../../src/media/fs-storage.js";
import { ProcessMonitor } from "../../src/obs/process-monitor.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { AdminStore } from "../../src/store/admin.js";
import type { WebhookStore } from "../../src/store/webhooks.js";
import type { Store } from "../../src/store/store.js";
import { channelAdminFor, sandboxRouter } from "../helpers/channels.js";
import { testPrincipal } from "../helpers/principal.js";
import { request } from "../helpers/server.js";

const KEY = "sk-internal00000000000000000000000000000000";
const principal = testPrincipal();

const logged: string[] = [];
const brokenStore = {
  async findKeyByHash(h: string) {
    return h === hashApiKey(KEY) ? principal : null;
  },
  async getTask() {
    throw new Error("SECRET-INTERNAL-DETAIL: database exploded at /var/lib/x");
  },
  async getSetting() {
    throw new Error("db down");
  },
} as unknown as Store;

let url = "";
const registry = new ProviderRegistry(); // no provider at all: nothing can serve a model
const channels = await sandboxRouter(registry);
const { app } = buildApp({
  store: brokenStore,
  admin: brokenStore as unknown as AdminStore,
  webhooks: brokenStore as unknown as WebhookStore,
  catalogue: new ModelCatalogue(BUILTIN_MODELS),
  registry,
  channels,
  channelAdmin: channelAdminFor(channels),
  media: new FsStorage("/nonexistent-darkroom-test"),
  estimator: new DurationEstimator(() => 45),
  queueMaxDepth: null,
  keys: new KeyCache(brokenStore, 0),
  signingSecret: Buffer.from("x"),
  signLink: (k) => k,
  onSubmitted: () => {},
  onCancelRequested: async () => {},
  log: pino({ level: "error" }, { write: (line: string) => void logged.push(line) }),
  bodyLimitBytes: 1024 * 1024,
  accessLog: false,
  connectionLimits: { total: 1000, perAddress: 1000 },
  requestDeadlines: {
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    minBytesPerSecond: 1024,
    graceMs: 5000,
    checkEveryMs: 1000,
  },
  monitor: new ProcessMonitor(),
  role: "api",
  runnerStatus: () => null,
});

beforeAll(async () => {
  url = await app.listen({ host: "127.0.0.1", port: 0 });
});
afterAll(() => app.close());

describe("unexpected failures", () => {
  it("500 internal_error with no internals in the body, logged with the request id", async () => {
    const r = await request(`${url}/v1/tasks/task-unified-1757165031-abcdefgh`, {}, KEY);
    expect(r.status).toBe(500);
    expect(r.json.error).toMatchObject({ code: "internal_error", type: "api_error" });
    expect(r.text).not.toMatch(/SECRET|database exploded|\/var\/lib|at .*\.ts/);
    const rid = r.headers.get("x-request-id")!;
    expect(logged.some((l) => l.includes(rid) && l.includes("SECRET-INTERNAL-DETAIL"))).toBe(true);
  });

  it("503 service_unavailable when no upstream serves the model", async () => {
    const r = await request(
      `${url}/v1/images/generations`,
      { body: { model: "doubao-seedream-4.0", prompt: "x" } },
      KEY,
    );
    expect(r.status).toBe(503);
    expect(r.json.error).toMatchObject({ code: "service_unavailable", type: "api_error" });
  });

  it("/readyz is 503 JSON when the database does not answer", async () => {
    const r = await request(`${url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe("service_unavailable");
  });
});
