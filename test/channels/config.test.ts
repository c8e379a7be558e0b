/** The channels part of DARKROOM_CONFIG: clear errors at boot, secrets resolved and kept out of sight. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { startDarkroom } from "../../src/server/darkroom.js";

const dir = mkdtempSync(path.join(tmpdir(), "darkroom-chcfg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function load(file: unknown, env: Record<string, string> = {}) {
  const p = path.join(dir, `c${n++}.json`);
  writeFileSync(p, JSON.stringify(file));
  return loadConfig({ DARKROOM_CONFIG: p, DARKROOM_DATA_DIR: path.join(dir, `d${n}`), ...env });
}
const base = { id: "ark-main", model: "doubao-seedream-4.0", provider: "ark" };

describe("channels in DARKROOM_CONFIG", () => {
  it("loads a channel with defaults and its secret from the environment", () => {
    const c = load({ channels: [{ ...base, api_key_env: "ARK_KEY" }] }, { ARK_KEY: "s3cret" });
    expect(c.channels.definitions[0]).toMatchObject({
      id: "ark-main",
      priority: 0,
      weight: 1,
      maxConcurrency: 8,
      timeoutMs: 120_000,
      enabled: true,
      options: {},
    });
    expect(c.channels.secrets.get("ark-main")).toBe("s3cret");
    expect(c.channels.sandboxFallback).toBe(true);
    // A logged config never carries the secret.
    expect(JSON.stringify(c)).not.toContain("s3cret");
  });

  it("reads the secret from a file", () => {
    const f = path.join(dir, "key.txt");
    writeFileSync(f, "from-file\n");
    const c = load({ channels: [{ ...base, api_key_file: f }] });
    expect(c.channels.secrets.get("ark-main")).toBe("from-file");
  });

  it.each([
    [{ channels: [{ ...base, model: "nope" }] }, /channel "ark-main": unknown model "nope"/],
    [{ channels: [base, base] }, /channel "ark-main": duplicate channel id/],
    [
      { channels: [{ ...base, api_key_env: "UNSET_VAR" }] },
      /environment variable UNSET_VAR is not set/,
    ],
    [{ channels: [{ ...base, api_key_file: "/nonexistent/key" }] }, /cannot read api_key_file/],
    [{ channels: [{ ...base, api_key_env: "A", api_key_file: "/x" }] }, /not both/],
    [{ channels: [{ ...base, max_concurrency: 0 }] }, /max_concurrency/],
    [{ channels: [{ ...base, base_url: "ftp://x" }] }, /base_url: must be an http\(s\) URL/],
    [{ channels: [{ ...base, surprise: 1 }] }, /channel "ark-main": .*surprise/],
    [{ channels: [{ model: "m" }] }, /channels\[0\]: id/],
    [{ breaker: { failure_threshold: 0 } }, /breaker/],
  ])("refuses %j", (file, message) => {
    expect(() => load(file)).toThrow(ConfigError);
    expect(() => load(file)).toThrow(message);
  });

  it("an unknown provider stops the start with a ConfigError naming it", async () => {
    const c = load({ channels: [{ ...base, provider: "warp-drive" }] });
    const err = await startDarkroom(c, pino({ level: "silent" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/channel "ark-main": unknown provider "warp-drive"/);
  });

  it("an ark channel without upstream_model stops the start, naming the field", async () => {
    const c = load({ channels: [{ ...base, base_url: "http://127.0.0.1:9" }] });
    const err = await startDarkroom(c, pino({ level: "silent" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/channel "ark-main": ark: upstream_model is required/);
  });
});
