/**
 * The store contract for listings (issue 13: "History is O(page)"), run for every
 * backend by storeContract. An account's tasks: a cursor walk returns every task
 * exactly once in order, ties on created_ms included; filters; totals exact after every
 * kind of write; page numbers within PAGE_DEPTH and refused beyond it. The operator's
 * accounts, ledger and deliveries: the same walks, and totals counted up to TOTAL_CAP.
 */
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  PAGE_DEPTH,
  TOTAL_CAP,
  type ListPage,
  type ListQuery,
  type PageStart,
  type RowPosition,
} from "../../src/core/paging.js";
import type { TaskPosition } from "../../src/core/task-cursor.js";
import type { TaskStatus } from "../../src/core/types.js";
import type { LedgerPosition } from "../../src/store/admin.js";
import type { OpenedStores } from "../../src/store/open.js";
import type { KeyPrincipal, TaskListQuery, TaskPage } from "../../src/store/store.js";
import { submitInput } from "../helpers/store.js";
import type { OpenBackend } from "./store.contract.js";

const T0 = 1_800_000_000_000;
const LEASE = 30_000;
const M4 = "doubao-seedream-4.0";
const M45 = "doubao-seedream-4.5";
const STATUSES: TaskStatus[] = ["pending", "processing", "completed", "failed"];
const hash = (key: string) => createHash("sha256").update(key).digest("hex");

interface Known {
  id: string;
  createdMs: number;
  model: string;
  status: TaskStatus;
}

/** First start on an empty store: the default account and its key `sk-boot`. */
async function bootstrapBoot(s: OpenedStores, nowMs: number): Promise<KeyPrincipal> {
  await s.store.bootstrap({
    nowMs,
    adminTokenHash: "admin-hash",
    accountName: "default",
    groupName: "default",
    groups: [{ name: "default", multiplierPpm: 1_000_000 }],
    apiKey: { id: "key_boot", hash: hash("sk-boot"), prefix: "sk-boot" },
    creditsMicros: 10_000_000_000,
    webhookSecret: "whsec_boot",
  });
  return (await s.store.findKeyByHash(hash("sk-boot")))!;
}

type Filter = Pick<TaskListQuery, "status" | "model">;

/** Every filter a client can ask: none, each status, each model, each pair. */
const FILTERS: Filter[] = [null, ...STATUSES].flatMap((status) =>
  [null, M4, M45, "no-such-model"].map((model) => ({ status, model })),
);

export function listContract(backend: string, open: OpenBackend): void {
  describe(`task listing contract (${backend})`, () => {
    let s: OpenedStores;
    let me: KeyPrincipal;
    let other: KeyPrincipal;
    /** What this account's tasks are, as the test made them. */
    let known: Map<string, Known>;

    beforeEach(async () => {
      s = await open();
      known = new Map();
      me = await bootstrapBoot(s, T0);
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

    async function submit(nowMs: number, model = M4, who = me): Promise<string> {
      const input = submitInput(who, { nowMs, body: { model } });
      expect((await s.store.submitTask(input)).kind).toBe("created");
      if (who === me)
        known.set(input.taskId, { id: input.taskId, createdMs: nowMs, model, status: "pending" });
      return input.taskId;
    }

    /** Claims every pending task (both accounts) and returns the claims by task id. */
    async function claimAll(nowMs: number) {
      const claims = await s.store.claimTasks("runner", 1000, LEASE, nowMs);
      for (const c of claims) {
        const k = known.get(c.task.id);
        if (k) k.status = "processing";
      }
      return new Map(claims.map((c) => [c.task.id, c.leaseToken]));
    }

    /** This account's tasks that match, newest first, ties by id (descending). */
    function expected(f: Filter): string[] {
      return [...known.values()]
        .filter(
          (k) =>
            (f.status === null || k.status === f.status) &&
            (f.model === null || k.model === f.model),
        )
        .sort((a, b) => b.createdMs - a.createdMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .map((k) => k.id);
    }

    const list = (f: Filter, pageSize: number, start: PageStart<TaskPosition>): Promise<TaskPage> =>
      s.store.listTasks(me.accountId, { ...f, pageSize, start });

    /** Follows `next` from the first page to the end; every page carries the same total. */
    async function walk(f: Filter, pageSize: number): Promise<string[]> {
      const ids: string[] = [];
      let start: PageStart<TaskPosition> = { page: 1 };
      for (let pages = 0; pages < 1000; pages++) {
        const p = await list(f, pageSize, start);
        expect(p.total).toBe(expected(f).length);
        ids.push(...p.data.map((t) => t.id));
        if (!p.next) return ids;
        // A full page, and the position of its last task.
        expect(p.data).toHaveLength(pageSize);
        expect(p.next.id).toBe(p.data[p.data.length - 1]!.id);
        expect(p.next.createdMs).toBe(known.get(p.next.id)!.createdMs);
        start = { after: p.next };
      }
      throw new Error("the walk did not end");
    }

    /** 25 tasks in tie groups of up to 4 per millisecond, both models, every status, another account's between. */
    async function mixedHistory(): Promise<void> {
      let ms = T0 + 1000;
      for (let i = 0; i < 25; i++) {
        if (i % 4 === 0) ms += 7;
        await submit(ms, i % 3 === 0 ? M45 : M4);
        if (i % 5 === 0) await submit(ms, M4, other);
      }
      const claims = await claimAll(ms + 1);
      const ids = [...known.keys()];
      for (const [i, id] of ids.entries()) {
        const token = claims.get(id)!;
        if (i % 4 === 1) {
          const outcome = { kind: "completed" as const, images: [], chargeMicros: 0 };
          expect(await s.store.finishTask(id, token, outcome, ms + 2)).toBe(true);
          known.get(id)!.status = "completed";
        } else if (i % 4 === 2) {
          const outcome = { kind: "failed" as const, code: "service_error" as const, message: "x" };
          expect(await s.store.finishTask(id, token, outcome, ms + 2)).toBe(true);
          known.get(id)!.status = "failed";
        } else if (i % 4 === 3) {
          expect(await s.store.releaseTask(id, token, ms + 2)).toBe(true);
        }
      }
      // A released task stays processing, its lease lapsed (claimable again).
      await submit(ms + 5, M4); // one more, still pending
    }

    it("walks every task exactly once, newest first, ties on created_ms broken by id", async () => {
      await mixedHistory();
      for (const f of FILTERS) {
        for (const size of [1, 3, 100])
          expect(await walk(f, size), JSON.stringify(f)).toEqual(expected(f));
      }
    });

    it("pages by number within PAGE_DEPTH, each page the same tasks the cursor walk reads", async () => {
      await mixedHistory();
      for (const f of FILTERS) {
        const all = expected(f);
        for (let page = 1; page <= Math.ceil(all.length / 4) + 1; page++) {
          const p = await list(f, 4, { page });
          expect(p.data.map((t) => t.id)).toEqual(all.slice((page - 1) * 4, page * 4));
          expect(p.total).toBe(all.length);
          const more = page * 4 < all.length;
          expect(p.next === null).toBe(!more);
          if (more) expect(p.next!.id).toBe(all[page * 4 - 1]);
        }
      }
    });

    it("keeps totals exact through submit, claim, progress, finish, release and cancel", async () => {
      const check = async () => {
        for (const f of FILTERS) {
          const p = await list(f, 2, { page: 1 });
          expect(p.total, JSON.stringify(f)).toBe(expected(f).length);
        }
      };
      await check();
      const a = await submit(T0 + 10);
      const b = await submit(T0 + 10, M45);
      const c = await submit(T0 + 11);
      await submit(T0 + 11, M45, other);
      await check();
      // Refused submissions and idempotent replays create no task.
      const poorInput = submitInput(me, { nowMs: T0 + 12, priceMicros: 1e15 });
      expect((await s.store.submitTask(poorInput)).kind).toBe("insufficient_balance");
      await check();
      const claims = await claimAll(T0 + 20);
      await check();
      expect(await s.store.reportProgress(a, claims.get(a)!, 50, T0 + 21)).toBe(true);
      await s.store.heartbeat(
        "runner",
        [{ taskId: a, leaseToken: claims.get(a)! }],
        LEASE,
        T0 + 22,
      );
      await check();
      const done = { kind: "completed" as const, images: [], chargeMicros: 1_000_000 };
      expect(await s.store.finishTask(a, claims.get(a)!, done, T0 + 23)).toBe(true);
      known.get(a)!.status = "completed";
      await check();
      // A lapsed lease is claimed again: processing to processing counts nothing twice.
      const again = await s.store.claimTasks("runner-2", 10, LEASE, T0 + 23 + 2 * LEASE);
      const mine = again.filter((x) => known.has(x.task.id)).map((x) => x.task.id);
      expect(mine.sort()).toEqual([b, c].sort());
      await check();
      const failed = { kind: "failed" as const, code: "service_error" as const, message: "x" };
      expect(
        await s.store.finishTask(
          b,
          again.find((x) => x.task.id === b)!.leaseToken,
          failed,
          T0 + 90_000,
        ),
      ).toBe(true);
      known.get(b)!.status = "failed";
      await check();
      const d = await submit(T0 + 90_001);
      expect(await s.store.cancelTask(me.accountId, d, T0 + 90_002)).toBe("cancelled");
      known.get(d)!.status = "failed";
      await check();
      expect(await s.store.cancelTask(me.accountId, c, T0 + 90_003)).toBe("requested");
      await check(); // a cancel asked of a running task changes no status yet
    });

    it("refuses a page number deeper than PAGE_DEPTH and serves the one that ends there", async () => {
      await submit(T0 + 1);
      const last = PAGE_DEPTH / 20;
      const edge = await list({ status: null, model: null }, 20, { page: last });
      expect(edge).toMatchObject({ data: [], total: 1, next: null });
      await expect(list({ status: null, model: null }, 20, { page: last + 1 })).rejects.toThrow(
        RangeError,
      );
      await expect(list({ status: "pending", model: M4 }, 100, { page: 11 })).rejects.toThrow(
        RangeError,
      );
      // A position has no depth limit.
      const far = await list({ status: null, model: null }, 20, {
        after: { createdMs: T0 + 2, id: "task-unified-0-zzzzzzzz" },
      });
      expect(far.data.map((t) => t.id)).toEqual(expected({ status: null, model: null }));
    });

    it("a cursor is only a position: it never reaches another account, and it outlives its task", async () => {
      const mine = [await submit(T0 + 1), await submit(T0 + 2), await submit(T0 + 3)];
      const theirs = await submit(T0 + 2, M4, other);
      // Another account's task as the position: this account's tasks after it, nothing of theirs.
      const p = await list({ status: null, model: null }, 10, {
        after: { createdMs: T0 + 2, id: theirs },
      });
      expect(p.data.map((t) => t.id)).toEqual(
        expected({ status: null, model: null }).filter(
          (id) =>
            known.get(id)!.createdMs < T0 + 2 ||
            (known.get(id)!.createdMs === T0 + 2 && id < theirs),
        ),
      );
      expect(p.data.every((t) => mine.includes(t.id))).toBe(true);
      // The position of a task that moved out of the filter still continues the walk.
      const first = await list({ status: "pending", model: null }, 1, { page: 1 });
      await s.store.cancelTask(me.accountId, first.data[0]!.id, T0 + 10);
      known.get(first.data[0]!.id)!.status = "failed";
      const rest = await list({ status: "pending", model: null }, 10, { after: first.next! });
      expect(rest.data.map((t) => t.id)).toEqual(mine.slice(0, 2).reverse());
      expect(rest.total).toBe(2);
    });
  });

  describe(`operator listings contract (${backend})`, () => {
    let s: OpenedStores;
    let me: KeyPrincipal;
    let clock = T0;
    const now = () => (clock += 10);

    beforeEach(async () => {
      s = await open();
      clock = T0;
      me = await bootstrapBoot(s, now());
    });

    afterEach(async () => {
      try {
        expect(await s.admin.checkLedger()).toEqual([]);
      } finally {
        await s.close();
      }
    });

    /** Every row of a listing by following `next`, checking each page's total. */
    async function walkAll<T, P>(
      list: (q: ListQuery<P>) => Promise<ListPage<T, P>>,
      pageSize: number,
      total: number,
    ): Promise<T[]> {
      const rows: T[] = [];
      let start: PageStart<P> = { page: 1 };
      for (let pages = 0; pages < 1000; pages++) {
        const p = await list({ pageSize, start });
        expect(p).toMatchObject({ total, totalCapped: false });
        rows.push(...p.data);
        if (!p.next) return rows;
        expect(p.data).toHaveLength(pageSize);
        start = { after: p.next };
      }
      throw new Error("the walk did not end");
    }

    it("walks accounts newest first, ties on created_ms broken by id", async () => {
      const at = now();
      for (const name of ["b", "a", "d", "c"]) {
        await s.admin.createAccount({
          id: `acct_${name}`,
          name,
          group: "default",
          webhookSecret: "w",
          nowMs: at,
        });
      }
      const all = (await s.admin.listAccounts({ pageSize: 100, start: { page: 1 } })).data.map(
        (a) => a.id,
      );
      expect(all).toEqual(["acct_d", "acct_c", "acct_b", "acct_a", me.accountId]);
      for (const size of [1, 2]) {
        const walked = await walkAll(
          (q: ListQuery<RowPosition>) => s.admin.listAccounts(q),
          size,
          5,
        );
        expect(walked.map((a) => a.id)).toEqual(all);
      }
      const page2 = await s.admin.listAccounts({ pageSize: 2, start: { page: 2 } });
      expect(page2.data.map((a) => a.id)).toEqual(all.slice(2, 4));
      await expect(s.admin.listAccounts({ pageSize: 200, start: { page: 6 } })).rejects.toThrow(
        RangeError,
      );
    });

    it("walks the ledger newest first, by account and by task", async () => {
      const id = submitInput(me, { nowMs: now() });
      expect((await s.store.submitTask(id)).kind).toBe("created");
      for (let i = 1; i <= 6; i++)
        await s.admin.moveCredits(me.accountId, {
          kind: "topup",
          amountMicros: i,
          reason: "t",
          nowMs: now(),
        });
      expect(await s.store.cancelTask(me.accountId, id.taskId, now())).toBe("cancelled");
      const all = (await s.admin.listLedger({}, { pageSize: 100, start: { page: 1 } })).data;
      expect(all).toHaveLength(1 + 1 + 6 + 2); // bootstrap top-up, reserve, six top-ups, capture and release
      expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((a, b) => b - a));
      const walked = await walkAll(
        (q: ListQuery<LedgerPosition>) => s.admin.listLedger({ accountId: me.accountId }, q),
        4,
        all.length,
      );
      expect(walked).toEqual(all);
      const byTask = await walkAll(
        (q: ListQuery<LedgerPosition>) => s.admin.listLedger({ taskId: id.taskId }, q),
        1,
        3,
      );
      expect(byTask).toEqual(all.filter((e) => e.taskId === id.taskId));
      const both = await s.admin.listLedger(
        { taskId: id.taskId, accountId: "acct_none" },
        { pageSize: 10, start: { page: 1 } },
      );
      expect(both).toMatchObject({ data: [], total: 0, next: null });
      await expect(
        s.admin.listLedger({}, { pageSize: 20, start: { page: PAGE_DEPTH / 20 + 1 } }),
      ).rejects.toThrow(RangeError);
    });

    it("counts an operator's listing up to TOTAL_CAP and says when there are more", async () => {
      // TOTAL_CAP submissions at once (group-committed), each with its reserve entry; with
      // the bootstrap top-up, one entry more than the cap.
      const results = await Promise.all(
        Array.from({ length: TOTAL_CAP }, () =>
          s.store.submitTask(submitInput(me, { nowMs: T0, priceMicros: 1 })),
        ),
      );
      expect(results.every((r) => r.kind === "created")).toBe(true);
      const p = await s.admin.listLedger(
        { accountId: me.accountId },
        { pageSize: 1, start: { page: 1 } },
      );
      expect(p).toMatchObject({ total: TOTAL_CAP, totalCapped: true });
      const exact = await s.admin.listLedger(
        { taskId: "task-unified-1-none" },
        { pageSize: 1, start: { page: 1 } },
      );
      expect(exact).toMatchObject({ total: 0, totalCapped: false });
    });

    it("walks deliveries newest first by account, status, both and task", async () => {
      const other = await s.admin.createAccount({
        id: "acct_o",
        name: "o",
        group: "default",
        webhookSecret: "w",
        nowMs: now(),
      });
      expect(other.ok).toBe(true);
      await s.admin.moveCredits("acct_o", {
        kind: "topup",
        amountMicros: 10_000_000_000,
        reason: "t",
        nowMs: now(),
      });
      await s.admin.createKey({
        id: "key_o",
        accountId: "acct_o",
        hash: hash("sk-o"),
        prefix: "sk-o",
        settings: {},
        nowMs: now(),
      });
      const them = (await s.store.findKeyByHash(hash("sk-o")))!;
      const made: Array<{ task: string; account: string }> = [];
      const at = now();
      for (let i = 0; i < 9; i++) {
        const who = i % 3 === 0 ? them : me;
        const input = submitInput(who, {
          nowMs: at,
          body: { callback_url: "https://hooks.example/x" },
        });
        expect((await s.store.submitTask(input)).kind).toBe("created");
        // Every callback written in the same millisecond: ties on created_ms.
        expect(await s.store.cancelTask(who.accountId, input.taskId, at + 100)).toBe("cancelled");
        made.push({ task: input.taskId, account: who.accountId });
      }
      // One delivered, one failed: three statuses to merge.
      const claimed = await s.outbox.claimDue(2, 60_000, at + 200);
      const verdicts = [{ status: "delivered" as const }, { status: "failed" as const }];
      for (const [i, d] of claimed.entries()) {
        const ok = await s.outbox.recordAttempt({
          id: d.id,
          leaseToken: d.leaseToken,
          attempt: d.attempt,
          statusCode: i === 0 ? 200 : 500,
          latencyMs: 1,
          errorKind: i === 0 ? null : "http_status",
          errorMessage: null,
          verdict: verdicts[i]!,
          nowMs: at + 201,
        });
        expect(ok).toBe(true);
      }
      const all = (await s.outbox.listDeliveries({}, { pageSize: 100, start: { page: 1 } })).data;
      expect(all).toHaveLength(9);
      const order = [...all].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
      expect(all.map((d) => d.id)).toEqual(order.map((d) => d.id));
      const filters = [
        {},
        { accountId: me.accountId },
        { status: "pending" as const },
        { accountId: "acct_o", status: "delivered" as const },
        { accountId: me.accountId, status: "failed" as const },
        { taskId: made[4]!.task },
        { taskId: made[4]!.task, accountId: "acct_o" },
      ];
      for (const f of filters) {
        const expected = all.filter(
          (d) =>
            (f.accountId === undefined || d.accountId === f.accountId) &&
            ("status" in f ? d.status === f.status : true) &&
            ("taskId" in f ? d.taskId === f.taskId : true),
        );
        for (const size of [1, 2]) {
          const walked = await walkAll(
            (q: ListQuery<RowPosition>) => s.outbox.listDeliveries(f, q),
            size,
            expected.length,
          );
          expect(
            walked.map((d) => d.id),
            JSON.stringify(f),
          ).toEqual(expected.map((d) => d.id));
        }
        const page2 = await s.outbox.listDeliveries(f, { pageSize: 2, start: { page: 2 } });
        expect(page2.data.map((d) => d.id)).toEqual(expected.slice(2, 4).map((d) => d.id));
      }
    });
  });
}
