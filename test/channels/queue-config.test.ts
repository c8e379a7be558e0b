/** The queue's limits (issue 14): defaults, the config file, the variables over it, 0 = none. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";

const dir = mkdtempSync(path.join(tmpdir(), "darkroom-queue-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (json: unknown) => {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(json));
  return f;
};

describe("queue settings", () => {
  it("holds 10,000 tasks per model for 10 minutes by default", () => {
    expect(loadConfig({}).queue).toEqual({ maxDepth: 10_000, maxWaitMs: 600_000 });
  });

  it("reads the file's queue section, lets the variables win, and takes 0 as no limit", () => {
    const f = file({ queue: { max_depth: 50, max_wait_ms: 30_000 } });
    expect(loadConfig({ DARKROOM_CONFIG: f }).queue).toEqual({ maxDepth: 50, maxWaitMs: 30_000 });
    expect(loadConfig({ DARKROOM_CONFIG: f, DARKROOM_QUEUE_MAX_DEPTH: "7" }).queue).toEqual({
      maxDepth: 7,
      maxWaitMs: 30_000,
    });
    expect(
      loadConfig({ DARKROOM_QUEUE_MAX_DEPTH: "0", DARKROOM_QUEUE_MAX_WAIT_MS: "0" }).queue,
    ).toEqual({ maxDepth: null, maxWaitMs: null });
  });

  it("refuses bad values with a message naming them", () => {
    expect(() => loadConfig({ DARKROOM_QUEUE_MAX_DEPTH: "-1" })).toThrow(
      /DARKROOM_QUEUE_MAX_DEPTH must be a whole number/,
    );
    expect(() => loadConfig({ DARKROOM_QUEUE_MAX_WAIT_MS: "1e9x" })).toThrow(ConfigError);
    expect(() => loadConfig({ DARKROOM_QUEUE_MAX_WAIT_MS: "99999999999" })).toThrow(
      /DARKROOM_QUEUE_MAX_WAIT_MS must be between/,
    );
    expect(() => loadConfig({ DARKROOM_CONFIG: file({ queue: { max_depth: 1.5 } }) })).toThrow(
      /queue\.max_depth/,
    );
    expect(() => loadConfig({ DARKROOM_CONFIG: file({ queue: { depth: 5 } }) })).toThrow(
      /DARKROOM_CONFIG: queue/,
    );
  });
});
