/**
 * The store contract: what every backend must do, written once over the interfaces
 * (Store, AdminStore, WebhookStore, ChannelStore) and run against each backend by a
 * `<backend>.test.ts` next to this file. Each test opens a fresh, empty store and, after
 * it, the store's own ledger check must find nothing wrong.
 */
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newTaskId } from "../../src/core/ids.js";
import type { StoredImage } from "../../src/core/types.js";
import type { OpenedStores } from "../../src/store/open.js";
import type { KeyPrincipal, SubmitInput, TaskOutcome } from "../../src/store/store.js";
import { submitInput, type SubmitInputOptions } from "../helpers/store.js";
import { filesContract } from "./files.contract.js";
import { listContract } from "./list.contract.js";
import { operatorTasksContract } from "./operator-tasks.contract.js";

/** Opens a fresh, empty, migrated backend; its close() also removes what it made. */
export type OpenBackend = () => Promise<OpenedStores>;

const T0 = 1_800_000_000_000;
const C = 1_000_000; // one credit in micros
const PRICE = 1_800_000;
const LEASE = 30_000;
const hash = (key: string) => createHash("sha256").update(key).digest("hex");

const image = (key: string): StoredImage => ({
  key,
  width: 1024,
  height: 1024,
  contentType: "image/png",
  bytes: 10,
});

export function storeContract(backend: string, open: OpenBackend): void {
  describe(`store contract (${backend})`, () => {
    let s: OpenedStores;
    /** The bootstrap account's first key: 100 credits, group default (×1). */
    let p: KeyPrincipal;
    let clock = T0;
    const now = () => (clock += 10);

    beforeEach(async () => {
      s = await open();
      clock = T0;
      expect(await s.store.isEmpty()).toBe(true);
      await s.store.bootstrap({
        nowMs: now(),
        adminTokenHash: "admin-hash",
        accountName: "default",
        groupName: "default",
        groups: [
          { name: "default", multiplierPpm: 1_000_000 },
          { name: "half", multiplierPpm: 500_000 },
        ],
        apiKey: { id: "key_boot", hash: hash("sk-boot"), prefix: "sk-boot" },
        creditsMicros: 100 * C,
        webhookSecret: "whsec_boot",
      });
      p = (await s.store.findKeyByHash(hash("sk-boot")))!;
    });

    afterEach(async () => {
      try {
        expect(await s.admin.checkLedger()).toEqual([]);
      } finally {
        await s.close();
      }
    });

    const input = (o: SubmitInputOptions & { principal?: KeyPrincipal } = {}): SubmitInput =>
      submitInput(o.principal ?? p, { priceMicros: PRICE, nowMs: now(), ...o });

    const hookedBody = () => ({ body: { callback_url: "https://hooks.example/x" } });

    async function created(o: Parameters<typeof input>[0] = {}): Promise<string> {
      const i = input(o);
      const r = await s.store.submitTask(i);
      expect(r.kind).toBe("created");
      return i.taskId;
    }

    async function claimOne(owner = "r") {
      const [c] = await s.store.claimTasks(owner, 1, LEASE, now());
      expect(c).toBeDefined();
      return c!;
    }

    const balance = async (accountId = p.accountId) => {
      const b = (await s.store.getBalance(accountId))!;
      return { balance: b.balanceMicros, held: b.heldMicros, used: b.usedMicros };
    };

    /** A second account with its own key, made through the admin store. */
    async function account(name: string, credits: number, settings = {}): Promise<KeyPrincipal> {
      const a = await s.admin.createAccount({
        id: `acct_${name}`,
        name,
        group: "default",
        webhookSecret: `whsec_${name}`,
        nowMs: now(),
      });
      expect(a.ok).toBe(true);
      if (credits > 0)
        await s.admin.moveCredits(`acct_${name}`, {
          kind: "topup",
          amountMicros: credits * C,
          reason: "test",
          nowMs: now(),
        });
      const k = await s.admin.createKey({
        id: `key_${name}`,
        accountId: `acct_${name}`,
        hash: hash(`sk-${name}`),
        prefix: `sk-${name}`,
        settings,
        nowMs: now(),
      });
      expect(k.ok).toBe(true);
      return (await s.store.findKeyByHash(hash(`sk-${name}`)))!;
    }

    describe("first start, settings and keys", () => {
      it("bootstraps once: the account, its key, its credits and the admin token", async () => {
        expect(await s.store.isEmpty()).toBe(false);
        expect(p).toMatchObject({
          keyId: "key_boot",
          groupName: "default",
          multiplierPpm: 1_000_000,
          allowedModels: null,
          creditLimitMicros: null,
          revoked: false,
          accountDisabled: false,
        });
        expect(await balance()).toEqual({ balance: 100 * C, held: 0, used: 0 });
        expect(await s.store.getSetting("admin_token_hash")).toBe("admin-hash");
        expect(await s.store.findKeyByHash(hash("sk-unknown"))).toBeNull();
        const ledger = await s.admin.listLedger(
          { accountId: p.accountId },
          { pageSize: 10, start: { page: 1 } },
        );
        expect(ledger.data.map((e) => [e.kind, e.amountMicros])).toEqual([["topup", 100 * C]]);
      });

      it("initSetting sets a value only once and returns the one in force", async () => {
        expect(await s.store.getSetting("signing_secret")).toBeNull();
        expect(await s.store.initSetting("signing_secret", "first")).toBe("first");
        expect(await s.store.initSetting("signing_secret", "second")).toBe("first");
        await s.admin.setAdminTokenHash("rotated");
        expect(await s.store.getSetting("admin_token_hash")).toBe("rotated");
      });

      it("upsertGroups changes a multiplier for new tasks and adds groups", async () => {
        await s.store.upsertGroups(
          [
            { name: "default", multiplierPpm: 2_000_000 },
            { name: "new", multiplierPpm: 1 },
          ],
          now(),
        );
        expect(await s.admin.listGroups()).toEqual([
          { name: "default", multiplierPpm: 2_000_000 },
          { name: "half", multiplierPpm: 500_000 },
          { name: "new", multiplierPpm: 1 },
        ]);
        expect((await s.store.findKeyByHash(hash("sk-boot")))!.multiplierPpm).toBe(2_000_000);
      });
    });

    describe("submission and holds", () => {
      it("creates a pending task and holds its reserve on the account and the key", async () => {
        const i = input({ body: { n: 2 } });
        const r = await s.store.submitTask(i);
        expect(r).toMatchObject({ kind: "created", task: { id: i.taskId, status: "pending" } });
        const view = await s.store.getTask(p.accountId, i.taskId);
        expect(view).toMatchObject({
          status: "pending",
          progress: 0,
          creditsReservedMicros: 2 * PRICE,
          creditsUsedMicros: null,
          userGroup: "default",
          cancellable: true,
        });
        expect(await balance()).toEqual({ balance: 100 * C, held: 2 * PRICE, used: 0 });
        expect((await s.store.getCredits(p.accountId, p.keyId))!.key).toEqual({
          creditLimitMicros: null,
          heldMicros: 2 * PRICE,
          usedMicros: 0,
        });
        const ledger = await s.admin.listLedger(
          { taskId: i.taskId },
          { pageSize: 10, start: { page: 1 } },
        );
        expect(ledger.data.map((e) => [e.kind, e.amountMicros])).toEqual([["reserve", 2 * PRICE]]);
      });

      it("refuses what the balance cannot cover, and changes nothing", async () => {
        const poor = await account("poor", 1);
        const r = await s.store.submitTask(input({ principal: poor }));
        expect(r.kind).toBe("insufficient_balance");
        expect(await balance(poor.accountId)).toEqual({ balance: 1 * C, held: 0, used: 0 });
        const list = await s.store.listTasks(poor.accountId, {
          status: null,
          model: null,
          pageSize: 10,
          start: { page: 1 },
        });
        expect(list.total).toBe(0);
      });

      it("refuses past the key's credit limit and past its tasks in progress", async () => {
        const limited = await account("limited", 50, { creditLimitMicros: 2 * C });
        expect((await s.store.submitTask(input({ principal: limited }))).kind).toBe("created");
        expect((await s.store.submitTask(input({ principal: limited }))).kind).toBe(
          "key_limit_exceeded",
        );
        const busy = await account("busy", 50, { maxConcurrent: 1 });
        expect((await s.store.submitTask(input({ principal: busy }))).kind).toBe("created");
        expect((await s.store.submitTask(input({ principal: busy }))).kind).toBe(
          "too_many_active_tasks",
        );
        expect((await balance(busy.accountId)).held).toBe(PRICE);
      });

      it("counts a finished task's charge against the key's credit limit", async () => {
        const limited = await account("spent", 50, { creditLimitMicros: 3 * C });
        const id = await created({ principal: limited });
        const c = await claimOne();
        expect(c.task.id).toBe(id);
        const done: TaskOutcome = { kind: "completed", images: [image("a")], chargeMicros: PRICE };
        expect(await s.store.finishTask(id, c.leaseToken, done, now())).toBe(true);
        // 1.8 used + 1.8 asked > 3: refused although nothing is held any more.
        expect((await s.store.submitTask(input({ principal: limited }))).kind).toBe(
          "key_limit_exceeded",
        );
      });
    });

    describe("the queue: depth, estimate and expiry (issue 14)", () => {
      const M2 = "doubao-seedream-4.5";
      const queued = (model = "doubao-seedream-4.0") => s.store.queuedTasks(model);
      const limit = (maxQueued: number | null, slots = 0, roundSeconds = 0) => ({
        maxQueued,
        slots,
        roundSeconds,
      });

      it("counts each model's pending tasks through submit, claim, release, cancel and finish", async () => {
        expect(await queued()).toBe(0);
        const a = await created();
        const b = await created();
        await created();
        await created({ body: { model: M2 } });
        expect([await queued(), await queued(M2)]).toEqual([3, 1]);
        const c = await claimOne();
        expect(c.task.id).toBe(a);
        expect(await queued()).toBe(2);
        // Handed back by the runner: still processing for the client, not queued again.
        expect(await s.store.releaseTask(a, c.leaseToken, now())).toBe(true);
        expect(await queued()).toBe(2);
        expect(await s.store.cancelTask(p.accountId, b, now())).toBe("cancelled");
        expect(await queued()).toBe(1);
        const again = await claimOne();
        const failed: TaskOutcome = { kind: "failed", code: "service_error", message: "x" };
        expect(await s.store.finishTask(again.task.id, again.leaseToken, failed, now())).toBe(true);
        expect([await queued(), await queued(M2), await queued("never-used")]).toEqual([1, 1, 0]);
      });

      it("refuses a submission past maxQueued with queue_full and writes nothing", async () => {
        for (let i = 0; i < 2; i++)
          expect((await s.store.submitTask({ ...input(), queue: limit(2) })).kind).toBe("created");
        const before = await balance();
        const full = input();
        expect(await s.store.submitTask({ ...full, queue: limit(2) })).toEqual({
          kind: "queue_full",
        });
        expect(await balance()).toEqual(before);
        expect((await s.store.getCredits(p.accountId, p.keyId))!.key.heldMicros).toBe(2 * PRICE);
        expect(await s.admin.findTask(full.taskId)).toBeNull();
        expect(await queued()).toBe(2);
        // Another model has its own queue; no limit is no limit.
        const other = { ...input({ body: { model: M2 } }), queue: limit(2) };
        expect((await s.store.submitTask(other)).kind).toBe("created");
        expect((await s.store.submitTask({ ...input(), queue: limit(null) })).kind).toBe("created");
        // A claim makes room.
        expect((await s.store.submitTask({ ...input(), queue: limit(3) })).kind).toBe("queue_full");
        await claimOne();
        expect((await s.store.submitTask({ ...input(), queue: limit(3) })).kind).toBe("created");
      });

      it("decides submissions made at once against the same queue, each counted once", async () => {
        const inputs = Array.from({ length: 5 }, () => ({ ...input(), queue: limit(3) }));
        const results = await Promise.all(inputs.map((i) => s.store.submitTask(i)));
        expect(results.filter((r) => r.kind === "created")).toHaveLength(3);
        expect(results.filter((r) => r.kind === "queue_full")).toHaveLength(2);
        expect(await queued()).toBe(3);
        expect((await balance()).held).toBe(3 * PRICE);
      });

      it("lengthens the estimate by one round per `slots` tasks queued ahead, as stored", async () => {
        const estimates: number[] = [];
        for (let i = 0; i < 5; i++) {
          const r = await s.store.submitTask({ ...input(), queue: limit(null, 2, 10) });
          if (r.kind !== "created") throw new Error(r.kind);
          const view = await s.store.getTask(p.accountId, r.task.id);
          expect(view!.estimatedSeconds).toBe(r.task.estimatedSeconds);
          estimates.push(r.task.estimatedSeconds);
        }
        expect(estimates).toEqual([45, 45, 55, 55, 65]);
        // No slots: the queue does not lengthen the estimate.
        const r = await s.store.submitTask({ ...input(), queue: limit(null, 0, 10) });
        expect(r).toMatchObject({ kind: "created", task: { estimatedSeconds: 45 } });
      });

      it("expires overdue pending tasks oldest first, refunded in full with a callback, once", async () => {
        const failure = { code: "service_unavailable" as const, message: "Waited too long." };
        const running = await created();
        const claimed = await claimOne();
        expect(claimed.task.id).toBe(running);
        const cancelled = await created();
        await s.store.cancelTask(p.accountId, cancelled, now());
        const old1 = await created({ body: { callback_url: "https://hooks.example/q" } });
        const old2 = await created({ body: { model: M2 } });
        const old3 = await created();
        const cutoff = now();
        const young = await created();
        const heldBefore = (await balance()).held;
        // In steps: the two oldest, then the rest; never the claimed, cancelled or young.
        const first = await s.store.expirePending(cutoff, 2, failure, now());
        expect(first.map((t) => t.id)).toEqual([old1, old2]);
        expect(first[1]).toMatchObject({ model: M2 });
        expect(first[1]!.createdMs).toBeLessThan(cutoff);
        const second = await s.store.expirePending(cutoff, 10, failure, now());
        expect(second.map((t) => t.id)).toEqual([old3]);
        expect(await s.store.expirePending(cutoff, 10, failure, now())).toEqual([]);
        for (const id of [old1, old2, old3])
          expect(await s.store.getTask(p.accountId, id)).toMatchObject({
            status: "failed",
            errorCode: "service_unavailable",
            errorMessage: "Waited too long.",
            creditsUsedMicros: 0,
          });
        expect((await balance()).held).toBe(heldBefore - 3 * PRICE);
        expect((await balance()).used).toBe(0);
        const ledger = await s.admin.listLedger(
          { taskId: old1 },
          { pageSize: 10, start: { page: 1 } },
        );
        expect(ledger.data.map((e) => [e.kind, e.amountMicros]).sort()).toEqual([
          ["capture", 0],
          ["release", PRICE],
          ["reserve", PRICE],
        ]);
        const deliveries = await s.outbox.listDeliveries({}, { pageSize: 10, start: { page: 1 } });
        expect(deliveries.data.map((d) => d.taskId)).toEqual([old1]);
        expect([await queued(), await queued(M2)]).toEqual([1, 0]);
        // The expired tasks are terminal: a cancel or a claim finds nothing to take.
        expect(await s.store.cancelTask(p.accountId, old1, now())).toBe("not_cancellable");
        const next = await s.store.claimTasks("r2", 10, LEASE, now());
        expect(next.map((c) => c.task.id)).toEqual([young]);
        expect((await s.store.getTask(p.accountId, running))!.status).toBe("processing");
      });
    });

    describe("idempotency", () => {
      const idem = (key: string, requestHash: string, nowMs: number) => ({
        ...input({ nowMs }),
        idempotency: { key, requestHash },
      });

      it("replays the same key and body, refuses another body, and holds once", async () => {
        const first = await s.store.submitTask(idem("k1", "h1", now()));
        expect(first.kind).toBe("created");
        const again = await s.store.submitTask(idem("k1", "h1", now()));
        expect(again.kind).toBe("replayed");
        expect(again.kind === "replayed" && first.kind === "created" && again.task.id).toBe(
          first.kind === "created" && first.task.id,
        );
        expect((await s.store.submitTask(idem("k1", "other", now()))).kind).toBe(
          "idempotency_conflict",
        );
        expect((await balance()).held).toBe(PRICE);
      });

      it("replayOnly replays a known key and creates nothing for an unknown one", async () => {
        const first = await s.store.submitTask(idem("k2", "h2", now()));
        const replay = await s.store.submitTask({ ...idem("k2", "h2", now()), replayOnly: true });
        expect(replay.kind).toBe("replayed");
        expect(replay.kind === "replayed" && replay.task.id).toBe(
          first.kind === "created" && first.task.id,
        );
        const none = await s.store.submitTask({ ...idem("k3", "h3", now()), replayOnly: true });
        expect(none.kind).toBe("not_created");
        expect((await balance()).held).toBe(PRICE);
      });

      it("forgets a key after 24 hours: the same key then creates a new task", async () => {
        const t = now();
        const first = await s.store.submitTask(idem("k4", "h4", t));
        const inside = await s.store.submitTask(idem("k4", "h4", t + 24 * 3600_000 - 1));
        expect(inside.kind).toBe("replayed");
        const after = await s.store.submitTask(idem("k4", "h4", t + 24 * 3600_000 + 1));
        expect(after.kind).toBe("created");
        expect(after.kind === "created" && after.task.id).not.toBe(
          first.kind === "created" && first.task.id,
        );
      });

      it("keeps keys apart per account", async () => {
        const other = await account("other", 50);
        expect((await s.store.submitTask(idem("shared", "h", now()))).kind).toBe("created");
        const theirs = {
          ...input({ principal: other }),
          idempotency: { key: "shared", requestHash: "x" },
        };
        expect((await s.store.submitTask(theirs)).kind).toBe("created");
      });
    });

    describe("claims and leases", () => {
      it("claims pending tasks oldest first, each once, with price and multiplier", async () => {
        const a = await created();
        const b = await created();
        const c = await created();
        const claimed = await s.store.claimTasks("r1", 2, LEASE, now());
        expect(claimed.map((x) => x.task.id)).toEqual([a, b]);
        expect(claimed[0]).toMatchObject({ priceMicros: PRICE, multiplierPpm: 1_000_000 });
        expect(claimed[0]!.task).toMatchObject({ status: "processing", attempts: 1 });
        expect(claimed[0]!.leaseToken).not.toBe(claimed[1]!.leaseToken);
        const rest = await s.store.claimTasks("r2", 5, LEASE, now());
        expect(rest.map((x) => x.task.id)).toEqual([c]);
        expect(await s.store.claimTasks("r3", 5, LEASE, now())).toEqual([]);
        expect((await s.store.getTask(p.accountId, a))!.status).toBe("processing");
      });

      it("honours per-model budgets: a model with none left is skipped", async () => {
        await created({ body: { model: "doubao-seedream-4.0" } });
        const b = await created({ body: { model: "doubao-seedream-4.5" } });
        const budgets = new Map([["doubao-seedream-4.0", 0]]);
        const claimed = await s.store.claimTasks("r", 5, LEASE, now(), budgets);
        expect(claimed.map((x) => x.task.id)).toEqual([b]);
      });

      it("gives a lapsed lease to the next claim; the old token can write nothing", async () => {
        const id = await created();
        const first = await claimOne("dead");
        clock += LEASE + 1;
        const second = await claimOne("alive");
        expect(second.task.id).toBe(id);
        expect(second.task.attempts).toBe(2);
        expect(second.leaseToken).not.toBe(first.leaseToken);
        expect(await s.store.reportProgress(id, first.leaseToken, 50, now())).toBe(false);
        const failed: TaskOutcome = { kind: "failed", code: "service_error", message: "late" };
        expect(await s.store.finishTask(id, first.leaseToken, failed, now())).toBe(false);
        expect(await s.store.releaseTask(id, first.leaseToken, now())).toBe(false);
        expect((await s.store.getTask(p.accountId, id))!.status).toBe("processing");
      });

      it("heartbeats keep a lease; a lost one is reported", async () => {
        const id = await created();
        const c = await claimOne();
        clock += LEASE - 100;
        const hb = await s.store.heartbeat(
          "r",
          [
            { taskId: id, leaseToken: c.leaseToken },
            { taskId: id, leaseToken: "not-the-token" },
          ],
          LEASE,
          now(),
        );
        expect(hb).toEqual({ lost: [id], cancelRequested: [] });
        clock += 200; // past the first lease, within the extended one
        expect(await s.store.claimTasks("thief", 1, LEASE, now())).toEqual([]);
      });

      it("reports progress that only moves forward", async () => {
        const id = await created();
        const c = await claimOne();
        expect(await s.store.reportProgress(id, c.leaseToken, 40, now())).toBe(true);
        expect(await s.store.reportProgress(id, c.leaseToken, 20, now())).toBe(true);
        expect((await s.store.getTask(p.accountId, id))!.progress).toBe(40);
      });

      it("releases a task without counting the attempt; it is claimed again at once", async () => {
        const id = await created();
        const c = await claimOne();
        expect(await s.store.releaseTask(id, c.leaseToken, now())).toBe(true);
        expect((await s.store.getTask(p.accountId, id))!.status).toBe("processing");
        const again = await claimOne();
        expect(again.task).toMatchObject({ id, attempts: 1 });
      });

      it("counts the queue per model (pending, processing) over every account", async () => {
        expect(await s.store.activeTaskCounts()).toEqual([]);
        const other = await account("queue", 50);
        const first = input();
        await s.store.submitTask(first);
        await created({ principal: other });
        await created({ body: { model: "doubao-seedream-4.5" } });
        const c = await claimOne();
        // The claimed record says when the task was submitted, to the millisecond.
        expect(c.task).toMatchObject({ id: first.taskId, createdMs: first.nowMs });
        const sorted = async () =>
          (await s.store.activeTaskCounts()).sort(
            (a, b) => a.model.localeCompare(b.model) || a.status.localeCompare(b.status),
          );
        expect(await sorted()).toEqual([
          { model: "doubao-seedream-4.0", status: "pending", count: 1 },
          { model: "doubao-seedream-4.0", status: "processing", count: 1 },
          { model: "doubao-seedream-4.5", status: "pending", count: 1 },
        ]);
        const done: TaskOutcome = { kind: "failed", code: "service_error", message: "x" };
        expect(await s.store.finishTask(c.task.id, c.leaseToken, done, now())).toBe(true);
        expect(await sorted()).toEqual([
          { model: "doubao-seedream-4.0", status: "pending", count: 1 },
          { model: "doubao-seedream-4.5", status: "pending", count: 1 },
        ]);
      });

      it("marks the channel; a cancel that got in first stops a non-cancellable start", async () => {
        const id = await created();
        const c = await claimOne();
        expect(await s.store.markChannel(id, "wrong", "ch", true, now())).toBe("lease_lost");
        expect(await s.store.markChannel(id, c.leaseToken, "ch-1", true, now())).toBe("ok");
        expect(await s.store.cancelTask(p.accountId, id, now())).toBe("requested");
        expect(await s.store.markChannel(id, c.leaseToken, "ch-2", false, now())).toBe(
          "cancel_requested",
        );
        expect(await s.store.markChannel(id, c.leaseToken, "ch-3", true, now())).toBe("ok");
        expect((await s.admin.findTask(id))!.channelId).toBe("ch-3");
      });

      it("once a start is not cancellable, a cancel is refused and the view says so", async () => {
        const id = await created();
        const c = await claimOne();
        expect(await s.store.markChannel(id, c.leaseToken, "ch", false, now())).toBe("ok");
        expect((await s.store.getTask(p.accountId, id))!.cancellable).toBe(false);
        expect(await s.store.cancelTask(p.accountId, id, now())).toBe("not_cancellable");
      });
    });

    describe("cancel", () => {
      it("cancels a pending task at once and refunds it; only its own account can", async () => {
        const other = await account("stranger", 10);
        const id = await created();
        expect(await s.store.cancelTask(other.accountId, id, now())).toBe("not_cancellable");
        expect(await s.store.cancelTask(p.accountId, id, now())).toBe("cancelled");
        expect(await s.store.getTask(p.accountId, id)).toMatchObject({
          status: "failed",
          errorCode: "request_cancelled",
          creditsUsedMicros: 0,
        });
        expect(await balance()).toEqual({ balance: 100 * C, held: 0, used: 0 });
        expect(await s.store.cancelTask(p.accountId, id, now())).toBe("not_cancellable");
        expect(await s.store.claimTasks("r", 5, LEASE, now())).toEqual([]);
      });

      it("asks the runner to stop a processing task: the heartbeat says so", async () => {
        const id = await created();
        const c = await claimOne();
        expect(await s.store.cancelTask(p.accountId, id, now())).toBe("requested");
        expect((await s.admin.findTask(id))!.cancelRequested).toBe(true);
        const hb = await s.store.heartbeat(
          "r",
          [{ taskId: id, leaseToken: c.leaseToken }],
          LEASE,
          now(),
        );
        expect(hb).toEqual({ lost: [], cancelRequested: [id] });
      });
    });

    describe("finish and settlement", () => {
      it("completes: captures the charge, releases the rest, stores the images, once", async () => {
        const id = await created({ body: { n: 2 } });
        const c = await claimOne();
        const done: TaskOutcome = {
          kind: "completed",
          images: [image("one.png")],
          chargeMicros: PRICE,
        };
        expect(await s.store.finishTask(id, c.leaseToken, done, now())).toBe(true);
        expect(await s.store.getTask(p.accountId, id)).toMatchObject({
          status: "completed",
          progress: 100,
          creditsUsedMicros: PRICE,
          results: [image("one.png")],
        });
        expect(await balance()).toEqual({ balance: 100 * C - PRICE, held: 0, used: PRICE });
        expect((await s.store.getCredits(p.accountId, p.keyId))!.key).toMatchObject({
          heldMicros: 0,
          usedMicros: PRICE,
        });
        const ledger = (
          await s.admin.listLedger({ taskId: id }, { pageSize: 10, start: { page: 1 } })
        ).data.reverse();
        expect(ledger.map((e) => [e.kind, e.amountMicros])).toEqual([
          ["reserve", 2 * PRICE],
          ["capture", PRICE],
          ["release", PRICE],
        ]);
        expect(ledger[2]).toMatchObject({
          balanceAfterMicros: 100 * C - PRICE,
          heldAfterMicros: 0,
        });
        expect(await s.store.finishTask(id, c.leaseToken, done, now())).toBe(false);
        expect(await balance()).toEqual({ balance: 100 * C - PRICE, held: 0, used: PRICE });
      });

      it("fails: refunds the whole hold and records the code", async () => {
        const id = await created();
        const c = await claimOne();
        const failed: TaskOutcome = { kind: "failed", code: "service_error", message: "boom" };
        expect(await s.store.finishTask(id, c.leaseToken, failed, now())).toBe(true);
        expect(await s.store.getTask(p.accountId, id)).toMatchObject({
          status: "failed",
          errorCode: "service_error",
          errorMessage: "boom",
          creditsUsedMicros: 0,
        });
        expect(await balance()).toEqual({ balance: 100 * C, held: 0, used: 0 });
      });

      it("never charges more than was reserved: refused whole, nothing changes", async () => {
        const id = await created();
        const c = await claimOne();
        const greedy: TaskOutcome = { kind: "completed", images: [], chargeMicros: PRICE + 1 };
        await expect(s.store.finishTask(id, c.leaseToken, greedy, now())).rejects.toThrow();
        expect((await s.store.getTask(p.accountId, id))!.status).toBe("processing");
        expect(await balance()).toEqual({ balance: 100 * C, held: PRICE, used: 0 });
      });

      it("learns durations from completed tasks, newest first per model", async () => {
        for (const seconds of [5, 7]) {
          const i = input();
          await s.store.submitTask(i);
          const c = await claimOne();
          const done: TaskOutcome = { kind: "completed", images: [], chargeMicros: 0 };
          expect(
            await s.store.finishTask(i.taskId, c.leaseToken, done, i.nowMs + seconds * 1000),
          ).toBe(true);
        }
        const d = await s.store.recentDurations(["doubao-seedream-4.0", "doubao-seedream-4.5"], 1);
        expect(d).toEqual([{ model: "doubao-seedream-4.0", seconds: 7 }]);
        expect(await s.store.recentDurations(["doubao-seedream-4.0"], 5)).toEqual([
          { model: "doubao-seedream-4.0", seconds: 7 },
          { model: "doubao-seedream-4.0", seconds: 5 },
        ]);
      });
    });

    describe("the webhook outbox", () => {
      const hooked = hookedBody;
      const failed: TaskOutcome = { kind: "failed", code: "service_error", message: "x" };

      async function finishedWithCallback(): Promise<string> {
        const id = await created(hooked());
        const c = await claimOne();
        expect(await s.store.finishTask(id, c.leaseToken, failed, now())).toBe(true);
        return id;
      }

      it("writes one delivery with a task's terminal move, none without a callback", async () => {
        const id = await finishedWithCallback();
        const plain = await created();
        const c = await claimOne();
        await s.store.finishTask(plain, c.leaseToken, failed, now());
        const cancelled = await created(hooked());
        await s.store.cancelTask(p.accountId, cancelled, now());
        const all = await s.outbox.listDeliveries({}, { pageSize: 10, start: { page: 1 } });
        expect(all.total).toBe(2);
        expect(all.data.map((d) => d.taskId).sort()).toEqual([id, cancelled].sort());
        expect(all.data[0]).toMatchObject({
          accountId: p.accountId,
          url: "https://hooks.example/x",
          status: "pending",
          attempts: 0,
          attemptList: [],
        });
      });

      it("leases due deliveries once, with the account's secret; a lapsed lease is claimable", async () => {
        const id = await finishedWithCallback();
        const t = now();
        expect(await s.outbox.nextDueMs()).toBeLessThanOrEqual(t);
        const [d] = await s.outbox.claimDue(10, 1000, t);
        expect(d).toMatchObject({
          taskId: id,
          attempt: 1,
          scheduleAttempt: 1,
          secret: "whsec_boot",
        });
        expect(await s.outbox.claimDue(10, 1000, t + 1)).toEqual([]);
        expect(await s.outbox.nextDueMs()).toBe(t + 1000);
        const [again] = await s.outbox.claimDue(10, 1000, t + 1001);
        expect(again!.id).toBe(d!.id);
        expect(again!.leaseToken).not.toBe(d!.leaseToken);
        const stale = await s.outbox.recordAttempt({
          id: d!.id,
          leaseToken: d!.leaseToken,
          attempt: 1,
          statusCode: 200,
          latencyMs: 5,
          errorKind: null,
          errorMessage: null,
          verdict: { status: "delivered" },
          nowMs: t + 1002,
        });
        expect(stale).toBe(false);
      });

      it("records attempts: a retry later, then delivery", async () => {
        await finishedWithCallback();
        const t = now();
        const [d] = await s.outbox.claimDue(10, 5000, t);
        const attempt = (over: object) => ({
          id: d!.id,
          leaseToken: d!.leaseToken,
          attempt: 1,
          statusCode: 503,
          latencyMs: 12,
          errorKind: "http_status" as const,
          errorMessage: "HTTP 503",
          verdict: { status: "pending" as const, nextAttemptMs: t + 60_000 },
          nowMs: t + 1,
          ...over,
        });
        expect(await s.outbox.recordAttempt(attempt({}))).toBe(true);
        expect(await s.outbox.claimDue(10, 5000, t + 59_999)).toEqual([]);
        expect(await s.outbox.nextDueMs()).toBe(t + 60_000);
        const [d2] = await s.outbox.claimDue(10, 5000, t + 60_000);
        expect(d2).toMatchObject({ id: d!.id, attempt: 2, scheduleAttempt: 2 });
        const ok = {
          id: d2!.id,
          leaseToken: d2!.leaseToken,
          attempt: 2,
          statusCode: 204,
          errorKind: null,
          errorMessage: null,
          verdict: { status: "delivered" as const },
          nowMs: t + 60_001,
        };
        expect(await s.outbox.recordAttempt(attempt(ok))).toBe(true);
        const got = (await s.outbox.getDelivery(d!.id))!;
        expect(got).toMatchObject({
          status: "delivered",
          attempts: 2,
          lastStatusCode: 204,
          deliveredAt: t + 60_001,
        });
        expect(got.attemptList.map((a) => [a.attempt, a.statusCode, a.errorKind])).toEqual([
          [1, 503, "http_status"],
          [2, 204, null],
        ]);
        expect(await s.outbox.nextDueMs()).toBeNull();
      });

      it("a released lease is claimable at once and counts no attempt", async () => {
        await finishedWithCallback();
        const t = now();
        const [d] = await s.outbox.claimDue(10, 60_000, t);
        await s.outbox.releaseLease(d!.id, d!.leaseToken);
        const [again] = await s.outbox.claimDue(10, 60_000, t + 1);
        expect(again).toMatchObject({ id: d!.id, attempt: 1 });
      });

      it("re-queues a failed delivery with a fresh schedule; attempt numbers keep growing", async () => {
        const id = await finishedWithCallback();
        const t = now();
        const [d] = await s.outbox.claimDue(10, 5000, t);
        expect(await s.outbox.requeueDelivery(d!.id, t)).toBe("not_failed");
        expect(await s.outbox.requeueDelivery("msg_none", t)).toBe("not_found");
        await s.outbox.recordAttempt({
          id: d!.id,
          leaseToken: d!.leaseToken,
          attempt: 1,
          statusCode: null,
          latencyMs: 1,
          errorKind: "network",
          errorMessage: "refused",
          verdict: { status: "failed" },
          nowMs: t + 1,
        });
        expect(
          (
            await s.outbox.listDeliveries(
              { status: "failed" },
              { pageSize: 10, start: { page: 1 } },
            )
          ).data.map((x) => x.taskId),
        ).toEqual([id]);
        expect(await s.outbox.claimDue(10, 5000, t + 2)).toEqual([]);
        expect(await s.outbox.requeueDelivery(d!.id, t + 3)).toBe("requeued");
        const [again] = await s.outbox.claimDue(10, 5000, t + 3);
        expect(again).toMatchObject({ id: d!.id, attempt: 2, scheduleAttempt: 1 });
      });

      it("lists deliveries by account, task and status, newest first, with a total", async () => {
        const a = await finishedWithCallback();
        const b = await finishedWithCallback();
        const all = await s.outbox.listDeliveries(
          { accountId: p.accountId },
          { pageSize: 1, start: { page: 1 } },
        );
        expect(all.total).toBe(2);
        expect(all.data.map((d) => d.taskId)).toEqual([b]);
        expect(
          (
            await s.outbox.listDeliveries({ taskId: a }, { pageSize: 10, start: { page: 1 } })
          ).data.map((d) => d.taskId),
        ).toEqual([a]);
        expect(
          (
            await s.outbox.listDeliveries(
              { status: "delivered" },
              { pageSize: 10, start: { page: 1 } },
            )
          ).total,
        ).toBe(0);
        expect(
          (
            await s.outbox.listDeliveries(
              { accountId: "acct_none" },
              { pageSize: 10, start: { page: 1 } },
            )
          ).total,
        ).toBe(0);
      });
    });

    describe("retention", () => {
      const DAY = 86_400_000;
      const idAt = (ms: number) => newTaskId(ms);
      const done = (key: string): TaskOutcome => ({
        kind: "completed",
        images: [image(key)],
        chargeMicros: PRICE,
      });

      it("tells each task's state and image keys; unknown ids are absent", async () => {
        const finished = await created();
        const c = await claimOne();
        await s.store.finishTask(finished, c.leaseToken, done("images/x/a-0.png"), now());
        const running = await created();
        await claimOne();
        const pending = await created();
        const found = await s.store.imagesOfTasks([finished, running, pending, idAt(T0)]);
        expect(found.size).toBe(3);
        expect(found.get(finished)).toEqual({ finished: true, keys: ["images/x/a-0.png"] });
        expect(found.get(running)).toEqual({ finished: false, keys: [] });
        expect(found.get(pending)).toEqual({ finished: false, keys: [] });
      });

      it("purges finished tasks created before the moment, oldest first, and keeps the bill", async () => {
        const base = Date.UTC(2026, 0, 1);
        const completed = await created({ taskId: idAt(base) });
        const c = await claimOne();
        await s.store.finishTask(completed, c.leaseToken, done("images/y/b-0.png"), now());
        const cancelled = await created({ taskId: idAt(base + 1000) });
        expect(await s.store.cancelTask(p.accountId, cancelled, now())).toBe("cancelled");
        const idem = await s.store.submitTask({
          ...input({ taskId: idAt(base + 2000) }),
          idempotency: { key: "k1", requestHash: "h1" },
        });
        expect(idem.kind).toBe("created");
        const idemId = idem.kind === "created" ? idem.task.id : "";
        expect(await s.store.cancelTask(p.accountId, idemId, now())).toBe("cancelled");
        // A callback still due keeps its task; one that was delivered does not.
        const awaitingCallback = await created({ taskId: idAt(base + 3000), ...hookedBody() });
        expect(await s.store.cancelTask(p.accountId, awaitingCallback, now())).toBe("cancelled");
        const stillPending = await created({ taskId: idAt(base + 4000) });
        const recent = await created({ taskId: idAt(base + 10 * DAY) });
        expect(await s.store.cancelTask(p.accountId, recent, now())).toBe("cancelled");
        const before = await balance();

        expect(await s.store.purgeTasks(base + 5 * DAY, 2)).toBe(2);
        expect(await s.store.getTask(p.accountId, completed)).toBeNull();
        expect(await s.store.getTask(p.accountId, cancelled)).toBeNull();
        expect(await s.store.getTask(p.accountId, idemId)).not.toBeNull();
        expect(await s.store.purgeTasks(base + 5 * DAY, 100)).toBe(1);
        expect(await s.store.purgeTasks(base + 5 * DAY, 100)).toBe(0);
        for (const kept of [awaitingCallback, stillPending, recent])
          expect(await s.store.getTask(p.accountId, kept)).not.toBeNull();

        // The idempotency key no longer binds: the same key makes a new task.
        const again = await s.store.submitTask({
          ...input(),
          idempotency: { key: "k1", requestHash: "h2" },
        });
        expect(again.kind).toBe("created");
        // Money is untouched, the ledger still has every entry, totals follow the tasks.
        expect(await balance()).toEqual({ ...before, held: before.held + PRICE });
        const ledger = await s.admin.listLedger(
          { accountId: p.accountId },
          { pageSize: 100, start: { page: 1 } },
        );
        expect(
          ledger.data
            .filter((e) => e.taskId === completed)
            .map((e) => e.kind)
            .sort(),
        ).toEqual(["capture", "release", "reserve"]);
        const page = await s.store.listTasks(p.accountId, {
          status: null,
          model: null,
          pageSize: 20,
          start: { page: 1 },
        });
        expect(page.total).toBe(4);

        // Once its callback is delivered, the task goes too, with its delivery.
        const [d] = await s.outbox.claimDue(10, 1000, now());
        expect(d!.taskId).toBe(awaitingCallback);
        expect(
          await s.outbox.recordAttempt({
            id: d!.id,
            leaseToken: d!.leaseToken,
            attempt: 1,
            statusCode: 200,
            latencyMs: 5,
            errorKind: null,
            errorMessage: null,
            verdict: { status: "delivered" },
            nowMs: now(),
          }),
        ).toBe(true);
        expect(await s.store.purgeTasks(base + 5 * DAY, 100)).toBe(1);
        expect(await s.outbox.getDelivery(d!.id)).toBeNull();
      });
    });

    describe("listing and reads", () => {
      it("lists an account's tasks newest first, filtered and paged, and no one else's", async () => {
        const other = await account("lister", 50);
        const a = await created();
        const b = await created({ body: { model: "doubao-seedream-4.5" } });
        const c = await created();
        await created({ principal: other });
        await s.store.cancelTask(p.accountId, a, now());
        const q = { status: null, model: null, pageSize: 10, start: { page: 1 } };
        const all = await s.store.listTasks(p.accountId, q);
        expect(all).toMatchObject({ total: 3, next: null });
        expect(all.data.map((t) => t.id)).toEqual([c, b, a]);
        const page2 = await s.store.listTasks(p.accountId, {
          ...q,
          pageSize: 2,
          start: { page: 2 },
        });
        expect(page2).toMatchObject({ total: 3, data: [{ id: a }], next: null });
        expect(
          (await s.store.listTasks(p.accountId, { ...q, status: "failed" })).data.map((t) => t.id),
        ).toEqual([a]);
        expect(
          (await s.store.listTasks(p.accountId, { ...q, model: "doubao-seedream-4.5" })).data.map(
            (t) => t.id,
          ),
        ).toEqual([b]);
      });

      it("reads a task only within its account; the operator finds it whole", async () => {
        const other = await account("peer", 10);
        const id = await created();
        expect(await s.store.getTask(other.accountId, id)).toBeNull();
        expect(await s.store.getTask(p.accountId, "task-unified-0-none")).toBeNull();
        expect(await s.admin.findTask(id)).toMatchObject({
          id,
          accountId: p.accountId,
          apiKeyId: p.keyId,
          status: "pending",
          attempts: 0,
          channelId: null,
          request: { model: "doubao-seedream-4.0", prompt: "a lake" },
        });
        expect(await s.admin.findTask("task-unified-0-none")).toBeNull();
      });
    });

    describe("admin", () => {
      it("creates accounts: names are unique and the group must exist", async () => {
        const base = { name: "acme", group: "default", webhookSecret: "whsec_a", nowMs: now() };
        const a = await s.admin.createAccount({ id: "acct_acme", ...base });
        expect(a).toMatchObject({ ok: true, value: { id: "acct_acme", balanceMicros: 0 } });
        expect(await s.admin.createAccount({ id: "acct_acme2", ...base })).toEqual({
          ok: false,
          reason: "conflict",
        });
        expect(
          await s.admin.createAccount({ id: "acct_x", ...base, name: "x", group: "nope" }),
        ).toEqual({ ok: false, reason: "group_not_found" });
        const listed = await s.admin.listAccounts({ pageSize: 10, start: { page: 1 } });
        expect(listed.total).toBe(2);
        expect(await s.admin.getAccount("acct_none")).toBeNull();
        const moved = await s.admin.updateAccount(
          "acct_acme",
          { group: "half", disabled: true },
          now(),
        );
        expect(moved).toMatchObject({ ok: true, value: { group: "half", disabled: true } });
        expect(await s.admin.updateAccount("acct_none", {}, now())).toEqual({
          ok: false,
          reason: "not_found",
        });
      });

      it("moves credits with a ledger entry, never below what running tasks hold", async () => {
        await created({ body: { n: 4 } }); // holds 7.2
        const up = await s.admin.moveCredits(p.accountId, {
          kind: "topup",
          amountMicros: 5 * C,
          reason: "gift",
          nowMs: now(),
        });
        expect(up).toMatchObject({
          ok: true,
          value: {
            kind: "topup",
            amountMicros: 5 * C,
            balanceAfterMicros: 105 * C,
            heldAfterMicros: 4 * PRICE,
          },
        });
        const tooMuch = await s.admin.moveCredits(p.accountId, {
          kind: "adjust",
          amountMicros: -(105 * C - 4 * PRICE + 1),
          reason: "x",
          nowMs: now(),
        });
        expect(tooMuch).toEqual({ ok: false, reason: "would_go_below_held" });
        const down = await s.admin.moveCredits(p.accountId, {
          kind: "adjust",
          amountMicros: -(105 * C - 4 * PRICE),
          reason: "x",
          nowMs: now(),
        });
        expect(down.ok).toBe(true);
        expect(await balance()).toEqual({ balance: 4 * PRICE, held: 4 * PRICE, used: 0 });
        expect(
          await s.admin.moveCredits("acct_none", {
            kind: "topup",
            amountMicros: 1,
            reason: "",
            nowMs: now(),
          }),
        ).toEqual({ ok: false, reason: "not_found" });
      });

      it("manages keys: settings, revocation, and what the principal then says", async () => {
        const made = await s.admin.createKey({
          id: "key_two",
          accountId: p.accountId,
          hash: hash("sk-two"),
          prefix: "sk-two",
          settings: { name: "two", allowedModels: ["doubao-seedream-4.5"], rpmLimit: 5 },
          nowMs: now(),
        });
        expect(made).toMatchObject({
          ok: true,
          value: {
            name: "two",
            allowedModels: ["doubao-seedream-4.5"],
            rpmLimit: 5,
            revokedAt: null,
          },
        });
        expect(
          await s.admin.createKey({
            ...{ id: "k", accountId: "acct_none", hash: "h", prefix: "p" },
            settings: {},
            nowMs: now(),
          }),
        ).toEqual({ ok: false, reason: "not_found" });
        expect((await s.admin.listKeys(p.accountId)).map((k) => k.id)).toEqual([
          "key_boot",
          "key_two",
        ]);
        const up = await s.admin.updateKey("key_two", { allowedModels: null, maxConcurrent: 3 });
        expect(up).toMatchObject({
          ok: true,
          value: { allowedModels: null, maxConcurrent: 3, rpmLimit: 5 },
        });
        expect((await s.admin.revokeKey("key_two", now())).ok).toBe(true);
        expect((await s.store.findKeyByHash(hash("sk-two")))!.revoked).toBe(true);
        expect(await s.admin.revokeKey("key_none", now())).toEqual({
          ok: false,
          reason: "not_found",
        });
        await s.admin.updateAccount(p.accountId, { disabled: true }, now());
        expect((await s.store.findKeyByHash(hash("sk-boot")))!.accountDisabled).toBe(true);
      });

      it("keeps groups, prices and webhook secrets", async () => {
        await s.admin.putGroup("half", 250_000, now());
        expect((await s.admin.listGroups()).find((g) => g.name === "half")!.multiplierPpm).toBe(
          250_000,
        );
        await s.admin.putModelPrice("doubao-seedream-4.0", 2 * C, now());
        await s.admin.putModelPrice("doubao-seedream-4.0", 3 * C, now());
        expect(await s.admin.listModelPrices()).toEqual([
          { model: "doubao-seedream-4.0", priceMicros: 3 * C },
        ]);
        expect(await s.admin.getWebhookSecret(p.accountId)).toBe("whsec_boot");
        expect(await s.admin.rotateWebhookSecret(p.accountId, "whsec_new")).toBe(true);
        expect(await s.admin.getWebhookSecret(p.accountId)).toBe("whsec_new");
        expect(await s.admin.rotateWebhookSecret("acct_none", "x")).toBe(false);
      });

      it("the ledger check agrees with a mixed day of work, and the ledger pages", async () => {
        const other = await account("mixed", 30);
        const ids = [await created(), await created({ principal: other }), await created()];
        const [a, b] = await s.store.claimTasks("r", 2, LEASE, now());
        const done: TaskOutcome = { kind: "completed", images: [], chargeMicros: PRICE / 2 };
        await s.store.finishTask(a!.task.id, a!.leaseToken, done, now());
        const failed: TaskOutcome = { kind: "failed", code: "service_error", message: "x" };
        await s.store.finishTask(b!.task.id, b!.leaseToken, failed, now());
        await s.store.cancelTask(p.accountId, ids[2]!, now());
        expect(await s.admin.checkLedger()).toEqual([]);
        const page = await s.admin.listLedger(
          { accountId: p.accountId },
          { pageSize: 2, start: { page: 1 } },
        );
        expect(page.data).toHaveLength(2);
        expect(page.total).toBe(1 + 2 * 3); // top-up, then reserve+capture+release twice
        expect(page.data[0]!.id).toBeGreaterThan(page.data[1]!.id);
      });
    });

    describe("channel state shared across processes", () => {
      it("marks a channel only while it has a free slot, counting live leases of every runner", async () => {
        const [x, y, z] = [await created(), await created(), await created()];
        const t = now();
        const claimed = await s.store.claimTasks("r1", 2, LEASE, t);
        const [cz] = await s.store.claimTasks("r2", 1, 1000, t);
        const token = (id: string) => [...claimed, cz!].find((c) => c.task.id === id)!.leaseToken;
        expect(await s.store.markChannel(z, token(z), "ch", true, t, 2)).toBe("ok");
        expect(await s.store.markChannel(x, token(x), "ch", true, t, 2)).toBe("ok");
        expect(await s.store.markChannel(y, token(y), "ch", true, t, 2)).toBe("channel_full");
        expect(await s.store.markChannel(y, token(y), "other", true, t, 2)).toBe("ok");
        // Marking again on the channel it holds is not blocked by itself.
        expect(await s.store.markChannel(x, token(x), "ch", true, t, 2)).toBe("ok");
        expect(await s.store.markChannel(y, token(y), "ch", true, t)).toBe("ok"); // no limit
        expect(await s.channels.channelLoad(["ch", "other", "idle"], t)).toEqual(
          new Map([["ch", 3]]),
        );
        // A process leaves out its own runner's calls (it counts those itself).
        expect(await s.channels.channelLoad(["ch", "other"], t, "r1")).toEqual(
          new Map([["ch", 1]]),
        );
        expect(await s.channels.channelLoad(["ch", "other"], t, "r2")).toEqual(
          new Map([["ch", 2]]),
        );
        // A lapsed lease (its runner died) frees its slot; a finished task frees its slot.
        expect(await s.channels.channelLoad(["ch"], t + 1001)).toEqual(new Map([["ch", 2]]));
        await s.store.finishTask(
          x,
          token(x),
          { kind: "failed", code: "service_error", message: "x" },
          t,
        );
        expect(await s.channels.channelLoad(["ch"], t + 1001)).toEqual(new Map([["ch", 1]]));
        expect(await s.store.markChannel(z, "stale", "ch", true, t, 2)).toBe("lease_lost");
      });

      it("adds up request counts per key and minute, and drops old minutes", async () => {
        const M = 60_000;
        const t = 1_000 * M;
        expect(await s.store.shareRequestCounts([], t - 2 * M)).toEqual([]);
        await s.store.shareRequestCounts(
          [
            { keyId: "k1", windowStartMs: t - M, n: 4 },
            { keyId: "k1", windowStartMs: t, n: 2 },
            { keyId: "k2", windowStartMs: t, n: 9 },
          ],
          t - 2 * M,
        );
        const totals = await s.store.shareRequestCounts(
          [{ keyId: "k1", windowStartMs: t, n: 3 }],
          t - 2 * M,
        );
        const sorted = (xs: typeof totals) =>
          [...xs].sort((a, b) => a.windowStartMs - b.windowStartMs);
        expect(sorted(totals)).toEqual([
          { keyId: "k1", windowStartMs: t - M, n: 4 },
          { keyId: "k1", windowStartMs: t, n: 5 },
        ]);
        // A zero count still answers the totals; minutes before the cut are gone.
        expect(
          sorted(await s.store.shareRequestCounts([{ keyId: "k1", windowStartMs: t, n: 0 }], t)),
        ).toEqual([{ keyId: "k1", windowStartMs: t, n: 5 }]);
      });

      it("keeps each channel's breaker, newest write wins", async () => {
        expect(await s.channels.listBreakers()).toEqual([]);
        const open = {
          state: "open" as const,
          consecutiveFailures: 3,
          openUntil: T0 + 5000,
          probing: false,
        };
        await s.channels.saveBreaker("ch-a", open, T0 + 1);
        await s.channels.saveBreaker(
          "ch-b",
          { ...open, state: "closed", consecutiveFailures: 1 },
          T0 + 2,
        );
        await s.channels.saveBreaker(
          "ch-a",
          { ...open, state: "half-open", probing: true },
          T0 + 3,
        );
        const all = (await s.channels.listBreakers()).sort((p, q) =>
          p.channelId.localeCompare(q.channelId),
        );
        expect(all).toEqual([
          {
            channelId: "ch-a",
            state: { ...open, state: "half-open", probing: true },
            updatedMs: T0 + 3,
          },
          {
            channelId: "ch-b",
            state: { ...open, state: "closed", consecutiveFailures: 1 },
            updatedMs: T0 + 2,
          },
        ]);
      });
    });

    describe("channels", () => {
      const def = (id: string, over = {}) => ({
        id,
        model: "doubao-seedream-4.0",
        provider: "ark",
        baseUrl: null,
        apiKeyEnv: "ARK_KEY",
        apiKeyFile: null,
        upstreamModel: null,
        priority: 0,
        weight: 1.5,
        maxConcurrency: 4,
        timeoutMs: 60_000,
        enabled: true,
        options: { size: "2K" },
        ...over,
      });

      it("creates, lists, updates and deletes channels; an id is taken once", async () => {
        expect(await s.channels.listChannels()).toEqual([]);
        expect(await s.channels.createChannel(def("b", { priority: 1 }), T0)).toBe(true);
        expect(await s.channels.createChannel(def("a", { priority: 1 }), T0)).toBe(true);
        expect(await s.channels.createChannel(def("a"), T0)).toBe(false);
        const listed = await s.channels.listChannels();
        expect(listed.map((c) => c.id)).toEqual(["a", "b"]);
        expect(listed[0]).toEqual({ ...def("a", { priority: 1 }), createdAt: T0, updatedAt: T0 });
        expect(await s.channels.updateChannel(def("a", { enabled: false }), T0 + 5)).toBe(true);
        expect(await s.channels.updateChannel(def("none"), T0)).toBe(false);
        expect((await s.channels.listChannels())[0]).toMatchObject({
          enabled: false,
          updatedAt: T0 + 5,
        });
        expect(await s.channels.deleteChannel("a")).toBe(true);
        expect(await s.channels.deleteChannel("a")).toBe(false);
        expect((await s.channels.listChannels()).map((c) => c.id)).toEqual(["b"]);
      });
    });
  });
  listContract(backend, open);
  filesContract(backend, open);
  operatorTasksContract(backend, open);
}
