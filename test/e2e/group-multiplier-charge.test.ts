/**
 * spec/api.md, billing: `credits_reserved` = price × n × the account group's multiplier,
 * and a completed task is charged price × images actually generated × multiplier, the
 * rest released, with no binary floating point in the amounts. Here with a multiplier
 * of 1.15 (1.8 × 3 × 1.15 = 6.21, which plain doubles get wrong) and a task that makes 3
 * of the 4 images asked.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  addAccount,
  ledgerInvariants,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

const KEY = "sk-group115000000000000000000000000000000g";
let s: TestServer;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "group-multiplier-"));
  const file = path.join(dir, "darkroom.json");
  writeFileSync(file, JSON.stringify({ groups: [{ name: "partner", multiplier: "1.15" }] }));
  s = await startTestServer({ DARKROOM_CONFIG: file });
  await addAccount(s.admin, { name: "partner", key: KEY, credits: 100, group: "partner" });
});
afterAll(() => s?.stop());

it("a 1.15 group completing 3 of 4 images: reserved 1.8 × 4 × 1.15, charged 1.8 × 3 × 1.15 exactly", async () => {
  const credits = async () => (await s.api("/v1/credits", { key: KEY })).json.data.user;
  const before = await credits();
  const sub = await s.api("/v1/images/generations", {
    key: KEY,
    body: { model: "doubao-seedream-4.0", prompt: "[sandbox:generate=3] four asked", n: 4 },
  });
  expect(sub.status).toBe(200);
  expect(sub.json.usage).toMatchObject({ credits_reserved: 8.28, user_group: "partner" });

  const { final } = await waitForTask(s, sub.json.id, KEY);
  expect(final.status).toBe("completed");
  expect(final.results).toHaveLength(3);
  expect(final.usage).toMatchObject({
    credits_reserved: 8.28,
    credits_used: 6.21,
    user_group: "partner",
  });
  const after = await credits();
  expect([before.remaining_credits, before.used_credits]).toEqual([100, 0]);
  expect(after.remaining_credits).toBe(93.79);
  expect(after.used_credits).toBe(6.21);
  await ledgerInvariants(s.admin);
});
