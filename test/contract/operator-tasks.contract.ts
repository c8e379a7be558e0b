/**
 * The store contract for the operator's task reads (issue 15), run for every backend
 * by storeContract: every account's tasks walked newest first under every filter, a
 * claim's trail written with its finish or hand-back (never without it) and gone with
 * its task, and the per-minute activity the triggers keep.
 */
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newTaskId } from "../../src/core/ids.js";
import type { TaskPosition } from "../../src/core/task-cursor.js";
import type { TaskStatus } from "../../src/core/types.js";
import type { OperatorTaskFilter } from "../../src/store/operator-tasks.js";
import type { OpenedStores } from "../../src/store/open.js";
import type { KeyPrincipal, TrailEntry } from "../../src/store/store.js";
import { submitInput } from "../helpers/store.js";
import type { OpenBackend } from "./store.contract.js";

const T0 = 1_800_000_000_000;
const LEASE = 30_000;
const M4 = "doubao-seedream-4.0";
const M45 = "doubao-seedream-4.5";
const STATUSES: TaskStatus[] = ["pending", "processing", "completed", "failed"];
const hash = (key: string) => createHash("sha256").update(key).digest("hex");
const PRICE = 1_800_000;

interface Known {
  id: string;
  createdMs: number;
  model: string;
  accountId: string;
  channelId: string | null;
  status: TaskStatus;
}

export function operatorTasksContract(backend: string, open: OpenBackend): void {
  describe(`operator task reads contract (${backend})`, () => {
    let s: OpenedStores;
    let me: KeyPrincipal;
    let other: KeyPrincipal;
    let known: Map<string, Known>;

    beforeEach(async () => {
      s = await open();
      known = new Map();
      await s.store.bootstrap({
        nowMs: T0,
        adminTokenHash: "admin-hash",
        accountName: "default",
        groupName: "default",
        groups: [{ name: "default", multiplierPpm: 1_000_000 }],
        apiKey: { id: "key_boot", hash: hash("sk-boot"), prefix: "sk-boot" },
        creditsMicros: 10_000_000_000,
        webhookSecret: "whsec_boot",
      });
      me = (await s.store.findKeyByHash(hash("sk-boot")))!;
      await s.admin.createAccount({
        id: "acct_other",
        name: "other",
        group: "default",
        webhookSecret: "whsec_o",
        nowMs: T0,
      });
      await s.admin.moveCredits("acct_other", {
        kind: "topup",
        amountMicros: 10_000_000_000,
        reason: "test",
        nowMs: T0,
      });
      await s.admin.createKey({
        id: "key_other",
        accountId: "acct_other",
        hash: hash("sk-other"),
        prefix: "sk-other",
        settings: {},
        nowMs: T0,
      });
      other = (await s.store.findKeyByHash(hash("sk-other")))!;
    });

    afterEach(async () => {
      try {
        expect(await s.admin.checkLedger()).toEqual([]);
      } finally {
        await s.close();
      }
    });

    async function submit(nowMs: number, model: string, who: KeyPrincipal): Promise<string> {
      const input = submitInput(who, {
        nowMs,
        body: { model },
        priceMicros: PRICE,
        taskId: newTaskId(nowMs),
      });
      expect((await s.store.submitTask(input)).kind).toBe("created");
      known.set(input.taskId, {
        id: input.taskId,
        createdMs: nowMs,
        model,
        accountId: who.accountId,
        channelId: null,
        status: "pending",
      });
      return input.taskId;
    }

    function expected(f: OperatorTaskFilter): string[] {
      return [...known.values()]
        .filter(
          (k) =>
            (f.status === null || k.status === f.status) &&
            (f.model === null || k.model === f.model) &&
            (f.accountId === null || k.accountId === f.accountId) &&
            (f.channelId === null || k.channelId === f.channelId),
        )
        .sort((a, b) => b.createdMs - a.createdMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .map((k) => k.id);
    }

    async function walk(f: OperatorTaskFilter, limit: number): Promise<string[]> {
      const ids: string[] = [];
      let after: TaskPosition | null = null;
      for (let pages = 0; pages < 500; pages++) {
        const p = await s.admin.listAllTasks(f, limit, after);
        ids.push(...p.data.map((t) => t.id));
        if (!p.next) return ids;
        expect(p.data).toHaveLength(limit);
        expect(p.next.id).toBe(p.data[p.data.length - 1]!.id);
        after = p.next;
      }
      throw new Error("the walk did not end");
    }

    /** Both accounts, both models, two channels, every status, ties on created_ms. */
    async function history(): Promise<void> {
      let ms = T0 + 1000;
      for (let i = 0; i < 18; i++) {
        if (i % 3 === 0) ms += 11;
        await submit(ms, i % 3 === 0 ? M45 : M4, i % 4 === 0 ? other : me);
      }
      const claims = await s.store.claimTasks("runner", 1000, LEASE, ms + 1);
      for (const [i, c] of claims.entries()) {
        const k = known.get(c.task.id)!;
        k.status = "processing";
        if (i % 5 === 4) continue; // claimed, no channel yet
        const channel = i % 2 === 0 ? "ch-a" : "ch-b";
        expect(await s.store.markChannel(c.task.id, c.leaseToken, channel, true, ms + 2)).toBe(
          "ok",
        );
        k.channelId = channel;
        if (i % 3 === 1) {
          const done = { kind: "completed" as const, images: [], chargeMicros: PRICE };
          expect(await s.store.finishTask(c.task.id, c.leaseToken, done, ms + 3)).toBe(true);
          k.status = "completed";
        } else if (i % 3 === 2) {
          const failed = { kind: "failed" as const, code: "service_error" as const, message: "x" };
          expect(await s.store.finishTask(c.task.id, c.leaseToken, failed, ms + 3)).toBe(true);
          k.status = "failed";
        }
      }
      await submit(ms + 20, M4, me); // still pending
    }

    it("walks every account's tasks once, newest first, under every filter", async () => {
      await history();
      const filters: OperatorTaskFilter[] = [];
      for (const status of [null, ...STATUSES])
        for (const model of [null, M4, M45, "no-such-model"])
          for (const accountId of [null, me.accountId, other.accountId])
            for (const channelId of [null, "ch-a", "ch-b"])
              filters.push({ status, model, accountId, channelId });
      for (const f of filters) {
        const want = expected(f);
        for (const limit of want.length > 2 ? [2, 100] : [100])
          expect(await walk(f, limit), JSON.stringify(f)).toEqual(want);
      }
      // The records carry what the console shows.
      const [first] = (
        await s.admin.listAllTasks(
          { status: "completed", model: null, accountId: null, channelId: null },
          1,
          null,
        )
      ).data;
      expect(first!.status).toBe("completed");
      expect(first!.creditsUsedMicros).toBe(PRICE);
      expect(first!.finishedMs).toBeGreaterThan(first!.createdMs);
      expect(first!.channelId).toBe(known.get(first!.id)!.channelId);
      expect(first!.request.prompt).toBe("a lake");
      expect(first!.n).toBe(1);
    });

    it("writes a claim's trail with its finish or hand-back, and never without it", async () => {
      const id = await submit(T0, M4, me);
      const [c1] = await s.store.claimTasks("runner", 1, LEASE, T0 + 10);
      const first: TrailEntry[] = [
        { kind: "claimed", atMs: T0 + 10 },
        {
          kind: "upstream_attempt",
          atMs: T0 + 20,
          endedMs: T0 + 30,
          channelId: "ch-a",
          outcome: "error",
          errorCode: "service_error",
        },
        { kind: "handed_back", atMs: T0 + 40 },
      ];
      expect(await s.store.releaseTask(id, c1!.leaseToken, T0 + 40, first)).toBe(true);
      // A write whose lease is gone writes no trail either.
      expect(await s.store.releaseTask(id, c1!.leaseToken, T0 + 41, first)).toBe(false);

      const [c2] = await s.store.claimTasks("runner", 1, LEASE, T0 + 50);
      const second: TrailEntry[] = [
        { kind: "claimed", atMs: T0 + 50 },
        {
          kind: "upstream_attempt",
          atMs: T0 + 60,
          endedMs: T0 + 70,
          channelId: "ch-b",
          outcome: "ok",
          errorCode: null,
        },
      ];
      const done = { kind: "completed" as const, images: [], chargeMicros: PRICE };
      expect(await s.store.finishTask(id, c2!.leaseToken, done, T0 + 80, second)).toBe(true);
      expect(await s.store.finishTask(id, c2!.leaseToken, done, T0 + 81, second)).toBe(false);

      const found = await s.admin.taskWithTrail(id);
      expect(found!.task.id).toBe(id);
      expect(found!.task.finishedMs).toBe(T0 + 80);
      const full = (e: TrailEntry) => ({
        endedMs: null,
        channelId: null,
        outcome: null,
        errorCode: null,
        ...e,
      });
      expect(found!.trail).toEqual([...first, ...second].map(full));
      expect(await s.admin.taskWithTrail("task-unified-1-nope")).toBeNull();

      expect(await s.store.purgeTasks(T0 + 10 * 86_400_000, 10)).toBe(1);
      expect(await s.admin.taskWithTrail(id)).toBeNull();
    });

    it("counts submissions, completions, failures and credits per minute", async () => {
      const m0 = T0 / 1000;
      const a = await submit(T0 + 1_000, M4, me);
      const b = await submit(T0 + 2_000, M4, other);
      await submit(T0 + 3_000, M45, me);
      const c = await submit(T0 + 61_000, M4, me);
      expect(await s.store.cancelTask(me.accountId, c, T0 + 62_000)).toBe("cancelled");
      const claims = await s.store.claimTasks("runner", 2, LEASE, T0 + 62_000);
      const token = new Map(claims.map((x) => [x.task.id, x.leaseToken]));
      expect([...token.keys()].sort()).toEqual([a, b].sort());
      expect(await s.store.markChannel(a, token.get(a)!, "ch-a", true, T0 + 62_000)).toBe("ok");
      const done = { kind: "completed" as const, images: [], chargeMicros: PRICE };
      expect(await s.store.finishTask(a, token.get(a)!, done, T0 + 65_000)).toBe(true);
      const failed = { kind: "failed" as const, code: "service_error" as const, message: "x" };
      expect(await s.store.finishTask(b, token.get(b)!, failed, T0 + 125_000)).toBe(true);

      const all = await s.admin.taskActivity(T0, T0 + 180_000);
      expect(all.minutes).toEqual([
        { minute: m0, submitted: 3, completed: 0, failed: 0, creditsUsedMicros: 0 },
        { minute: m0 + 60, submitted: 1, completed: 1, failed: 1, creditsUsedMicros: PRICE },
        { minute: m0 + 120, submitted: 0, completed: 0, failed: 1, creditsUsedMicros: 0 },
      ]);
      expect(all.durations).toEqual([{ model: M4, channelId: "ch-a", durationMs: 64_000 }]);
      // The window bounds both.
      const late = await s.admin.taskActivity(T0 + 120_000, T0 + 180_000);
      expect(late.minutes.map((m) => m.minute)).toEqual([m0 + 120]);
      expect(late.durations).toEqual([]);
    });
  });
}
