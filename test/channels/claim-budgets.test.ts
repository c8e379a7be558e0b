/**
 * The claim with per-model budgets on a real SQLite store: a saturated model's queue
 * never hides another model's work, a partial budget is honoured exactly, order stays
 * oldest first, and a task handed back keeps its place without counting the attempt.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { newTaskId } from "../../src/core/ids.js";
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import { validateGenerationRequest } from "../../src/core/validate.js";
import { hashApiKey } from "../../src/http/plugins/auth.js";
import { bootstrapIfEmpty } from "../../src/server/bootstrap.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { KeyPrincipal } from "../../src/store/store.js";
import { TEST_API_KEY } from "../helpers/server.js";

const catalogue = new ModelCatalogue(BUILTIN_MODELS);
const A = "doubao-seedream-4.0";
const B = "doubao-seedream-4.5";
let dir: string;
let store: SqliteStore;
let principal: KeyPrincipal;
let clock = 1_800_000_000_000;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "darkroom-claim-"));
  const config = loadConfig({
    DARKROOM_DATA_DIR: dir,
    DARKROOM_BOOTSTRAP_API_KEY: TEST_API_KEY,
    DARKROOM_BOOTSTRAP_CREDITS: "1000",
  });
  store = new SqliteStore(config.sqlitePath);
  await store.migrate();
  await bootstrapIfEmpty(store, config);
  principal = (await store.findKeyByHash(hashApiKey(TEST_API_KEY)))!;
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function submit(model: string): Promise<string> {
  const v = validateGenerationRequest({ model, prompt: "p", size: "2K" }, catalogue);
  if (!v.ok) throw v.error;
  const taskId = newTaskId();
  const r = await store.submitTask({
    taskId,
    principal,
    request: v.request,
    reserveMicros: 1_800_000,
    priceMicros: 1_800_000,
    estimatedSeconds: 45,
    nowMs: (clock += 10),
    idempotency: null,
  });
  expect(r.kind).toBe("created");
  return taskId;
}

const claim = (limit: number, budgets?: Map<string, number>) =>
  store.claimTasks("r", limit, 30_000, (clock += 10), budgets);

describe("claim budgets", () => {
  it("a model with no free slot is skipped, however long its queue; others are claimed", async () => {
    const as = [];
    for (let i = 0; i < 20; i++) as.push(await submit(A));
    const bs = [await submit(B), await submit(B)];
    const got = await claim(5, new Map([[A, 0]]));
    expect(got.map((c) => c.task.id)).toEqual(bs);
    expect((await store.getTask(principal.accountId, as[0]!))!.status).toBe("pending");
  });

  it("a partial budget is honoured exactly and the rest of the batch goes to other models, oldest first", async () => {
    const as = [await submit(A), await submit(A), await submit(A)];
    const bs = [await submit(B), await submit(B)];
    const got = await claim(4, new Map([[A, 1]]));
    expect(got.map((c) => c.task.id)).toEqual([as[0], bs[0], bs[1]]);
    // Models without a budget are not capped.
    expect((await claim(10)).map((c) => c.task.id)).toEqual([as[1], as[2]]);
  });

  it("a task handed back lapses at once, keeps no attempt and is claimed again first", async () => {
    const first = await submit(A);
    await submit(A);
    const [c] = await claim(1);
    expect(c!.task.id).toBe(first);
    expect(await store.releaseTask(first, c!.leaseToken, (clock += 10))).toBe(true);
    const again = await claim(1);
    expect(again[0]!.task).toMatchObject({ id: first, attempts: 1 });
    // The old token is fenced off.
    expect(await store.releaseTask(first, c!.leaseToken, (clock += 10))).toBe(false);
  });

  it("markChannel: a cancel that got in first stops a non-cancellable start; a cancellable one proceeds", async () => {
    const id = await submit(A);
    const [c] = await claim(1);
    expect(await store.cancelTask(principal.accountId, id, (clock += 10))).toBe("requested");
    expect(await store.markChannel(id, c!.leaseToken, "ch", false, clock)).toBe("cancel_requested");
    expect(await store.markChannel(id, c!.leaseToken, "ch", true, clock)).toBe("ok");
    expect(await store.markChannel(id, "stale", "ch", true, clock)).toBe("lease_lost");
  });

  it("once marked non-cancellable, a cancel is refused and the view says can_cancel false", async () => {
    const id = await submit(A);
    const [c] = await claim(1);
    expect(await store.markChannel(id, c!.leaseToken, "ch", false, clock)).toBe("ok");
    expect(await store.cancelTask(principal.accountId, id, (clock += 10))).toBe("not_cancellable");
    expect((await store.getTask(principal.accountId, id))!.cancellable).toBe(false);
  });
});
