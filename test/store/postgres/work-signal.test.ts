/**
 * The cross-process wake-up on PostgreSQL: a submission committed by one process wakes
 * the workers of another (LISTEN/NOTIFY), and notifies are coalesced so a burst of
 * submissions sends a handful of NOTIFYs, not one per task.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openPostgresStores, type PgStores } from "../../../src/store/postgres/backend.js";
import type { Queryable, Row } from "../../../src/store/postgres/database.js";
import { PgWorkSignal } from "../../../src/store/postgres/work-signal.js";
import { freshSchema, PG_URL, postgresAnswers } from "../../helpers/postgres.js";
import { submitInput } from "../../helpers/store.js";

const up = await postgresAnswers();

describe("work signal: coalescing", () => {
  it("sends one NOTIFY at a time, and one more for what came meanwhile", async () => {
    const sent: Array<() => void> = [];
    const db: Queryable = {
      query<R extends Row = Row>(): Promise<R[]> {
        return new Promise((resolve) => sent.push(() => resolve([])));
      },
    };
    const signal = new PgWorkSignal({ url: PG_URL, schema: "public", db });
    const settle = async () => {
      sent.shift()!();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    };
    signal.notify();
    for (let i = 0; i < 50; i++) signal.notify();
    expect(sent).toHaveLength(1);
    await settle();
    expect(sent).toHaveLength(1); // the one more, for the 50 that came meanwhile
    await settle();
    expect(sent).toHaveLength(0); // nothing came during it: quiet
    signal.notify();
    expect(sent).toHaveLength(1);
    await settle();
    await signal.close();
  });
});

describe.skipIf(!up)("work signal across processes", () => {
  const opened: PgStores[] = [];
  let drop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await drop?.();
  });

  it("wakes another process's subscriber when a submission commits", async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const api = await openPostgresStores(PG_URL, { schema: fresh.schema, max: 2 });
    const worker = await openPostgresStores(PG_URL, { schema: fresh.schema, max: 2 });
    opened.push(api, worker);
    await api.store.bootstrap({
      nowMs: 1,
      adminTokenHash: "h",
      accountName: "default",
      groupName: "default",
      groups: [{ name: "default", multiplierPpm: 1_000_000 }],
      apiKey: { id: "key_boot", hash: "kh", prefix: "sk-boot" },
      creditsMicros: 100_000_000,
      webhookSecret: "whsec",
    });
    const p = (await api.store.findKeyByHash("kh"))!;

    let wakes = 0;
    let woken: () => void = () => undefined;
    worker.workSignal.onWork(() => {
      wakes++;
      woken();
    });
    await worker.workSignal.listening();
    wakes = 0; // the wake on (re)connect is not the one under test

    const seen = new Promise<void>((resolve) => (woken = resolve));
    const input = submitInput(p, { priceMicros: 1_000_000, nowMs: 2 });
    expect((await api.store.submitTask(input)).kind).toBe("created");
    await seen;
    expect(wakes).toBeGreaterThanOrEqual(1);
    // Woken after the commit: the task is there to claim.
    const claimed = await worker.store.claimTasks("w", 1, 30_000, 3);
    expect(claimed.map((c) => c.task.id)).toEqual([input.taskId]);
  });

  it("wakes another process's subscriber when a task is handed back", async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const draining = await openPostgresStores(PG_URL, { schema: fresh.schema, max: 2 });
    const worker = await openPostgresStores(PG_URL, { schema: fresh.schema, max: 2 });
    opened.push(draining, worker);
    await draining.store.bootstrap({
      nowMs: 1,
      adminTokenHash: "h",
      accountName: "default",
      groupName: "default",
      groups: [{ name: "default", multiplierPpm: 1_000_000 }],
      apiKey: { id: "key_boot", hash: "kh", prefix: "sk-boot" },
      creditsMicros: 100_000_000,
      webhookSecret: "whsec",
    });
    const p = (await draining.store.findKeyByHash("kh"))!;
    // The submission sends no wake of its own, so only the hand-back can wake the worker.
    (draining.store as unknown as { opts: { onCreated: () => void } }).opts.onCreated = () => {};
    const input = submitInput(p, { priceMicros: 1_000_000, nowMs: 2 });
    await draining.store.submitTask(input);
    const [held] = await draining.store.claimTasks("draining", 1, 30_000, 3);
    expect(held?.task.id).toBe(input.taskId);

    let woken: () => void = () => undefined;
    worker.workSignal.onWork(() => woken());
    await worker.workSignal.listening();
    // Armed once listening: the connect's wake has gone by.
    const seen = new Promise<void>((resolve) => (woken = resolve));
    expect(await draining.store.releaseTask(input.taskId, held!.leaseToken, 4)).toBe(true);
    await seen;
    const claimed = await worker.store.claimTasks("w", 1, 30_000, 5);
    expect(claimed.map((c) => c.task.id)).toEqual([input.taskId]);
  });

  it("a hand-back that lost its lease wakes no one", async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const s = await openPostgresStores(PG_URL, { schema: fresh.schema, max: 2 });
    opened.push(s);
    let handedBack = 0;
    (s.store as unknown as { opts: { onHandedBack: () => void } }).opts.onHandedBack = () =>
      handedBack++;
    await s.store.bootstrap({
      nowMs: 1,
      adminTokenHash: "h",
      accountName: "default",
      groupName: "default",
      groups: [{ name: "default", multiplierPpm: 1_000_000 }],
      apiKey: { id: "key_boot", hash: "kh", prefix: "sk-boot" },
      creditsMicros: 100_000_000,
      webhookSecret: "whsec",
    });
    const p = (await s.store.findKeyByHash("kh"))!;
    const input = submitInput(p, { priceMicros: 1_000_000, nowMs: 2 });
    await s.store.submitTask(input);
    const [held] = await s.store.claimTasks("w", 1, 30_000, 3);
    expect(await s.store.releaseTask(input.taskId, "not-the-token", 4)).toBe(false);
    expect(handedBack).toBe(0);
    expect(await s.store.releaseTask(input.taskId, held!.leaseToken, 4)).toBe(true);
    expect(handedBack).toBe(1);
  });

  it("a refused submission wakes no one", async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const notified: string[] = [];
    const db: Queryable = {
      async query<R extends Row = Row>(sql: string): Promise<R[]> {
        notified.push(sql);
        return [];
      },
    };
    const s = await openPostgresStores(PG_URL, { schema: fresh.schema, max: 2 });
    opened.push(s);
    // The store's own signal is replaced by one that records what it would send.
    const spy = new PgWorkSignal({ url: PG_URL, schema: fresh.schema, db });
    (s.store as unknown as { opts: { onCreated: () => void } }).opts.onCreated = () => spy.notify();
    await s.store.bootstrap({
      nowMs: 1,
      adminTokenHash: "h",
      accountName: "default",
      groupName: "default",
      groups: [{ name: "default", multiplierPpm: 1_000_000 }],
      apiKey: { id: "key_boot", hash: "kh", prefix: "sk-boot" },
      creditsMicros: 0,
      webhookSecret: "whsec",
    });
    const p = (await s.store.findKeyByHash("kh"))!;
    const r = await s.store.submitTask(submitInput(p, { priceMicros: 1_000_000, nowMs: 2 }));
    expect(r.kind).toBe("insufficient_balance");
    expect(notified).toEqual([]);
    await spy.close();
  });
});
