/**
 * The gemini provider as a channel like the others: declared in DARKROOM_CONFIG (its
 * key from the environment, its settings checked at start) or through the admin API
 * (a setting it refuses is 400 naming the field).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { startDarkroom } from "../../src/server/darkroom.js";
import { request, startTestServer, TEST_ADMIN_TOKEN, type TestServer } from "../helpers/server.js";

const dir = mkdtempSync(path.join(tmpdir(), "darkroom-gemch-"));
let n = 0;
function configFile(file: unknown): string {
  const p = path.join(dir, `g${n++}.json`);
  writeFileSync(p, JSON.stringify(file));
  return p;
}
const gemini = {
  id: "gem-main",
  model: "gemini-2.5-flash-image",
  provider: "gemini",
  api_key_env: "GEMINI_TEST_KEY",
};

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({
    DARKROOM_CONFIG: configFile({ channels: [gemini] }),
    GEMINI_TEST_KEY: "gemini-secret-value",
  });
});
afterAll(async () => {
  await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});
const admin = (p: string, init: { method?: string; body?: unknown } = {}) =>
  request(s.url + p, { ...init, key: TEST_ADMIN_TOKEN });

describe("gemini channels", () => {
  it("a config channel loads with its secret from the environment, never shown", async () => {
    const r = await admin("/admin/v1/channels/gem-main");
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({
      id: "gem-main",
      provider: "gemini",
      model: "gemini-2.5-flash-image",
    });
    expect(r.text).not.toContain("gemini-secret-value");
  });

  it("a config channel with a bad option stops the start, naming the channel and the field", async () => {
    const c = loadConfig({
      DARKROOM_CONFIG: configFile({ channels: [{ ...gemini, options: { api_version: "beta" } }] }),
      DARKROOM_DATA_DIR: path.join(dir, "d1"),
      GEMINI_TEST_KEY: "k",
    });
    const err = await startDarkroom(c, pino({ level: "silent" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/channel "gem-main": gemini: options\.api_version must be/);
  });

  it("a channel whose provider would drop one of its model's parameters stops the start", async () => {
    const c = loadConfig({
      DARKROOM_CONFIG: configFile({
        models: [
          {
            id: "gemini-steps",
            extends: "gemini-2.5-flash-image",
            model_params: { steps: { type: "integer", min: 1, max: 50 } },
          },
        ],
        channels: [{ ...gemini, model: "gemini-steps" }],
      }),
      DARKROOM_DATA_DIR: path.join(dir, "d3"),
      GEMINI_TEST_KEY: "k",
    });
    const err = await startDarkroom(c, pino({ level: "silent" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(
      /channel "gem-main": model "gemini-steps" declares model_params\.steps, which provider gemini does not send \(it sends none\)/,
    );
  });

  it("a config channel whose key variable is unset stops the start", () => {
    expect(() =>
      loadConfig({
        DARKROOM_CONFIG: configFile({ channels: [gemini] }),
        DARKROOM_DATA_DIR: path.join(dir, "d2"),
      }),
    ).toThrow(/channel "gem-main": environment variable GEMINI_TEST_KEY is not set/);
  });

  it("admin API: a bad upstream_model is 400 on that field; a good channel is created", async () => {
    const bad = await admin("/admin/v1/channels", {
      body: { ...gemini, id: "gem-bad", upstream_model: "gemini 3", enabled: false },
    });
    expect(bad.status, bad.text).toBe(400);
    expect(bad.json.error).toMatchObject({ code: "invalid_request", param: "upstream_model" });
    const good = await admin("/admin/v1/channels", {
      body: {
        ...gemini,
        id: "gem-pro",
        model: "gemini-3-pro-image-preview",
        upstream_model: "gemini-3-pro-image-preview",
        options: { api_version: "v1beta" },
        enabled: false,
      },
    });
    expect(good.status, good.text).toBe(201);
    expect(good.json).toMatchObject({ id: "gem-pro", provider: "gemini" });
  });
});
