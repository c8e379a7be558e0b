/**
 * The claim with per-model budgets on a real store (SQLite by default): a saturated model's queue
 * never hides another model's work, a partial budget is honoured exactly, order stays
 * oldest first, and a task handed back keeps its place without counting the attempt.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KeyPrincipal, Store } from "../../src/store/store.js";
import { openTestStore, submitInput, type TestStore } from "../helpers/store.js";

const A = "doubao-seedream-4.0";
const B = "doubao-seedream-4.5";
let opened: TestStore;
let store: Store;
let principal: KeyPrincipal;
let clock = 1_800_000_000_000;

beforeEach(async () => {
  opened = await openTestStore("1000");
  ({ store, principal } = opened);
});
afterEach(async () => {
  await opened.close();
});

async function submit(model: string): Promise<string> {
  const input = submitInput(principal, {
    body: { model, prompt: "p", size: "2K" },
    priceMicros: 1_800_000,
    nowMs: (clock += 10),
  });
  const r = await store.submitTask(input);
  expect(r.kind).toBe("created");
  return input.taskId;
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
