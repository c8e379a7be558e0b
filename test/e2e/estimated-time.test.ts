/**
 * spec/api.md: `estimated_time` is learned from recent completions of that model, with
 * a configured default until there is history. Seen through the API: with a configured
 * default of 300 s for doubao-seedream-4.0, a submission says 300 until three tasks of
 * that model have completed (Darkroom waits for 3 samples, then takes their median, so
 * one stuck task does not swing it); then it says what those 1.5 s tasks took. Another
 * model keeps its own default.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

let s: TestServer;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "estimated-time-"));
  const file = path.join(dir, "darkroom.json");
  writeFileSync(
    file,
    JSON.stringify({ models: [{ id: "doubao-seedream-4.0", estimated_seconds: 300 }] }),
  );
  s = await startTestServer({ DARKROOM_CONFIG: file });
});
afterAll(() => s?.stop());

const submit = (model: string, prompt: string) =>
  s.api("/v1/images/generations", { body: { model, prompt } });

it("estimated_time starts at the configured default and then follows completions", async () => {
  // Upper bounds of each sample: from `created` (whole seconds) to when we saw it done.
  const observed: number[] = [];
  for (const i of [1, 2, 3]) {
    const sub = await submit("doubao-seedream-4.0", `[sandbox:delay=1500] sample ${i}`);
    // Fewer than 3 completions: still the configured default.
    expect(sub.json.task_info.estimated_time).toBe(300);
    await waitForTask(s, sub.json.id);
    observed.push(Date.now() / 1000 - (sub.json.created as number));
  }
  const next = await submit("doubao-seedream-4.0", "after three completions");
  const learned = next.json.task_info.estimated_time as number;
  // Each sample is at least the 1.5 s of sandbox work and at most what we observed, so
  // their median, rounded, lies between those bounds: no fixed timing is assumed.
  expect(learned).toBeGreaterThanOrEqual(Math.round(1.5));
  expect(learned).toBeLessThanOrEqual(Math.round(Math.max(...observed)));
  expect(learned).not.toBe(300);
  // The poll of a task shows the same learned figure.
  const view = await s.api(`/v1/tasks/${next.json.id}`);
  expect(view.json.task_info.estimated_time).toBe(learned);

  // Learned per model: 4.5 has no completions and keeps its built-in default.
  const other = await submit("doubao-seedream-4.5", "another model");
  expect(other.json.task_info.estimated_time).toBe(60);
});
