/**
 * Channels made through the admin API are checked by their provider (validateChannel)
 * like the config file's: a POST or PATCH the provider refuses is 400 invalid_request
 * naming the field, and a refused channel written by another process is picked up on
 * reload with a `problem` in its health and never routed to.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { definitionFromJson } from "../../src/core/channel-definition.js";
import { txt2img } from "../providers/comfyui/fixtures.js";
import {
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

const cfgDir = mkdtempSync(path.join(tmpdir(), "darkroom-chval-"));
let s: TestServer;

// Never contacted: every channel pointing here is refused before any call.
const NOWHERE = "http://127.0.0.1:9";
const model = (id: string) => ({ id, extends: "doubao-seedream-4.0", price: "1" });

beforeAll(async () => {
  const file = path.join(cfgDir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({
      models: ["m-api", "m-mixed", "m-only-bad"].map(model),
      // m-mixed's fallback: a healthy channel behind the bad one.
      channels: [{ id: "mixed-good", model: "m-mixed", provider: "sandbox", priority: 1 }],
      channel_reload_ms: 100,
    }),
  );
  s = await startTestServer({ DARKROOM_CONFIG: file, ARK_KEY: "ark-secret-value" });
});
afterAll(async () => {
  await s?.stop();
  rmSync(cfgDir, { recursive: true, force: true });
});

const admin = (p: string, init: { method?: string; body?: unknown } = {}) =>
  request(s.url + p, { ...init, key: TEST_ADMIN_TOKEN });
const ark = (id: string, m: string, extra: Record<string, unknown> = {}) => ({
  id,
  model: m,
  provider: "ark",
  base_url: NOWHERE,
  api_key_env: "ARK_KEY",
  upstream_model: "doubao-seedream-4-0-250828",
  enabled: false,
  ...extra,
});

describe("admin channels are validated by their provider", () => {
  it("POST: an ark channel without upstream_model is 400, naming the field", async () => {
    const r = await admin("/admin/v1/channels", {
      body: ark("ark-no-model", "m-api", { upstream_model: undefined }),
    });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_request", param: "upstream_model" });
    expect(r.json.error.message).toMatch(/^Invalid ark channel: upstream_model is required/);
    expect((await admin("/admin/v1/channels/ark-no-model")).status).toBe(404);
  });

  it("POST: a comfyui channel with a bad workflow template is 400 on options", async () => {
    const workflow = txt2img();
    (workflow["6"] as { inputs: Record<string, unknown> }).inputs.text = "fixed text";
    const r = await admin("/admin/v1/channels", {
      body: {
        id: "gpu-bad",
        model: "m-api",
        provider: "comfyui",
        base_url: NOWHERE,
        enabled: false,
        options: { workflow },
      },
    });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_request", param: "options" });
    expect(r.json.error.message).toMatch(/^Invalid comfyui channel: .*\{\{prompt\}\}/);
    expect((await admin("/admin/v1/channels/gpu-bad")).status).toBe(404);
  });

  it("PATCH: a change the provider refuses is 400 and the channel stays as it was", async () => {
    const created = await admin("/admin/v1/channels", { body: ark("ark-ok", "m-api") });
    expect(created.status, created.text).toBe(201);
    expect(created.json.health.problem).toBeNull();

    const noModel = await admin("/admin/v1/channels/ark-ok", {
      method: "PATCH",
      body: { upstream_model: null },
    });
    expect(noModel.status, noModel.text).toBe(400);
    expect(noModel.json.error).toMatchObject({ code: "invalid_request", param: "upstream_model" });
    const badOption = await admin("/admin/v1/channels/ark-ok", {
      method: "PATCH",
      body: { options: { stream: "yes" } },
    });
    expect(badOption.status, badOption.text).toBe(400);
    expect(badOption.json.error).toMatchObject({ code: "invalid_request", param: "options" });
    expect(badOption.json.error.message).toMatch(/options\.stream must be a boolean/);

    const after = await admin("/admin/v1/channels/ark-ok");
    expect(after.json).toMatchObject({
      upstream_model: "doubao-seedream-4-0-250828",
      options: {},
    });
    expect((await admin("/admin/v1/channels/ark-ok", { method: "DELETE" })).status).toBe(200);
  });

  it("on reload, a refused channel written elsewhere is listed with its problem and skipped", async () => {
    // Another process (or an older version) wrote these straight into the table.
    const table = s.channels;
    const now = Date.now();
    for (const [id, m] of [
      ["mixed-bad", "m-mixed"],
      ["only-bad", "m-only-bad"],
    ] as const) {
      const def = definitionFromJson(ark(id, m, { upstream_model: null, enabled: true }));
      expect(await table.createChannel({ ...def, priority: 0 }, now)).toBe(true);
    }

    const deadline = Date.now() + 10_000;
    let health: { problem: string | null } | undefined;
    while (Date.now() < deadline) {
      const r = await admin("/admin/v1/channels/only-bad");
      if (r.status === 200) {
        health = r.json.health;
        break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(health?.problem).toMatch(/^ark: upstream_model is required/);
    expect((await admin("/admin/v1/channels/mixed-bad")).json.health.problem).toMatch(
      /upstream_model is required/,
    );

    // Its only channel is unusable: refused at submit, not accepted and failed later.
    const refused = await s.api("/v1/images/generations", {
      body: { model: "m-only-bad", prompt: "x", size: "1K" },
    });
    expect(refused.status, refused.text).toBe(503);

    // Behind a healthy channel: the task is served there, the bad one is never tried.
    const t = await s.api("/v1/images/generations", {
      body: { model: "m-mixed", prompt: "[sandbox:delay=0] mixed", size: "1K" },
    });
    expect(t.status, t.text).toBe(200);
    const { final } = await waitForTask(s, t.json.id);
    expect(final.status).toBe("completed");
    const bad = (await admin("/admin/v1/channels/mixed-bad")).json.health;
    expect(bad).toMatchObject({ in_flight: 0, failures: 0 });
  });
});
