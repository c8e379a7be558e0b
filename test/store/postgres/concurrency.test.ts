/**
 * PostgreSQL under many processes: several pools (each stands for a process) submit,
 * claim and finish against one account at the same moment. Nothing may overspend the
 * balance or the key's limit, pass max_concurrent, hand a task to two workers, or
 * settle a task twice, however the statements interleave.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KeyPrincipal, SubmitResult } from "../../../src/store/store.js";
import { openPostgresStores, type PgStores } from "../../../src/store/postgres/backend.js";
import { freshSchema, PG_URL, postgresAnswers } from "../../helpers/postgres.js";
import { submitInput } from "../../helpers/store.js";

const up = await postgresAnswers();

const C = 1_000_000;
const PRICE = 1_800_000;
const T0 = 1_800_000_000_000;
const PROCESSES = 4;

describe.skipIf(!up)("PostgreSQL under concurrent processes", () => {
  let procs: PgStores[] = [];
  let drop: () => Promise<void>;
  let p: KeyPrincipal;

  beforeEach(async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    procs = [];
    for (let i = 0; i < PROCESSES; i++)
      procs.push(await openPostgresStores(PG_URL, { schema: fresh.schema, max: 4 }));
    await procs[0]!.store.bootstrap({
      nowMs: T0,
      adminTokenHash: "h",
      accountName: "default",
      groupName: "default",
      groups: [{ name: "default", multiplierPpm: 1_000_000 }],
      apiKey: { id: "key_boot", hash: "kh", prefix: "sk-boot" },
      creditsMicros: 100 * C,
      webhookSecret: "whsec",
    });
    p = (await procs[0]!.store.findKeyByHash("kh"))!;
  });

  afterEach(async () => {
    for (const s of procs) await s.close();
    await drop();
  });

  /** `n` submissions spread over every process, all started at once. */
  async function race(n: number): Promise<Map<string, number>> {
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        procs[i % PROCESSES]!.store.submitTask(
          submitInput(p, { priceMicros: PRICE, nowMs: T0 + 1 + i }),
        ),
      ),
    );
    return tally(results);
  }

  function tally(results: SubmitResult[]): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of results) m.set(r.kind, (m.get(r.kind) ?? 0) + 1);
    return m;
  }

  async function one<T>(sql: string, params: unknown[] = []): Promise<T> {
    const [r] = await procs[0]!.db.query(sql, params);
    return r as T;
  }

  /** Every hold and count agrees with the tasks and the ledger. */
  async function expectConsistent(): Promise<void> {
    const a = await one<{ balance_micros: number; held_micros: number; used_micros: number }>(
      `SELECT balance_micros, held_micros, used_micros FROM accounts WHERE id = $1`,
      [p.accountId],
    );
    const k = await one<{ held_micros: number; active_tasks: number }>(
      `SELECT held_micros, active_tasks FROM api_keys WHERE id = $1`,
      [p.keyId],
    );
    const open = await one<{ held: number; n: number }>(
      `SELECT COALESCE(SUM(credits_reserved_micros), 0) AS held, COUNT(*) AS n
       FROM tasks WHERE status IN ('pending', 'processing')`,
    );
    const spent = await one<{ used: number }>(
      `SELECT COALESCE(SUM(credits_used_micros), 0) AS used FROM tasks`,
    );
    expect(a.held_micros).toBe(open.held);
    expect(k.held_micros).toBe(open.held);
    expect(k.active_tasks).toBe(open.n);
    expect(a.used_micros).toBe(spent.used);
    expect(a.balance_micros).toBe(100 * C - spent.used);
    expect(a.balance_micros - a.held_micros).toBeGreaterThanOrEqual(0);
    const reserves = await one<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ledger_entries WHERE kind = 'reserve'`,
    );
    const tasks = await one<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks`);
    expect(reserves.n).toBe(tasks.n);
  }

  it("never holds more than the balance, whatever the interleaving", async () => {
    const kinds = await race(200);
    // 100 credits at 1.8 each: exactly 55 fit.
    expect(kinds.get("created")).toBe(55);
    expect(kinds.get("insufficient_balance")).toBe(145);
    await expectConsistent();
  });

  it("never passes the key's credit limit or its tasks in progress", async () => {
    await procs[0]!.db.query(`UPDATE api_keys SET credit_limit_micros = $1 WHERE id = $2`, [
      10 * C,
      p.keyId,
    ]);
    let kinds = await race(60);
    expect(kinds.get("created")).toBe(5); // 10 / 1.8
    expect(kinds.get("key_limit_exceeded")).toBe(55);

    await procs[0]!.db.query(
      `UPDATE api_keys SET credit_limit_micros = NULL, max_concurrent = 8 WHERE id = $1`,
      [p.keyId],
    );
    kinds = await race(60);
    expect(kinds.get("created")).toBe(3); // 5 already running
    expect(kinds.get("too_many_active_tasks")).toBe(57);
    await expectConsistent();
  });

  it("one idempotency key makes one task, however many processes send it", async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        procs[i % PROCESSES]!.store.submitTask({
          ...submitInput(p, { priceMicros: PRICE, nowMs: T0 + 1 }),
          idempotency: { key: "same", requestHash: "h1" },
        }),
      ),
    );
    const kinds = tally(results);
    expect(kinds.get("created")).toBe(1);
    expect(kinds.get("replayed")).toBe(39);
    const ids = new Set(results.map((r) => ("task" in r ? r.task.id : null)));
    expect(ids.size).toBe(1);
    await expectConsistent();
  });

  it("a submission written again (its commit's answer was lost) is not written twice", async () => {
    const input = submitInput(p, { priceMicros: PRICE, nowMs: T0 + 1 });
    expect((await procs[0]!.store.submitTask(input)).kind).toBe("created");
    // As the batch's one-by-one retry does after a connection broke during COMMIT.
    const again = await procs[1]!.store.submitTask(input);
    expect(again).toMatchObject({ kind: "created", task: { id: input.taskId } });
    const held = await one<{ held_micros: number }>(
      `SELECT held_micros FROM accounts WHERE id = $1`,
      [p.accountId],
    );
    expect(held.held_micros).toBe(PRICE);
    await expectConsistent();
  });

  it("workers claim each task once, then settle each once", async () => {
    await race(40);
    const claimedBy = new Map<string, string>();
    const leases: Array<{ proc: number; id: string; token: string }> = [];
    await Promise.all(
      procs.map(async (s, proc) => {
        for (;;) {
          const got = await s.store.claimTasks(`w${proc}`, 3, 60_000, T0 + 1000);
          if (got.length === 0) return;
          for (const c of got) {
            expect(claimedBy.has(c.task.id)).toBe(false);
            claimedBy.set(c.task.id, `w${proc}`);
            leases.push({ proc, id: c.task.id, token: c.leaseToken });
          }
        }
      }),
    );
    expect(claimedBy.size).toBe(40);

    // Every task finished twice at once, from two processes: one wins, once.
    const finishes = await Promise.all(
      leases.flatMap((l) =>
        [l.proc, (l.proc + 1) % PROCESSES].map((proc) =>
          procs[proc]!.store.finishTask(
            l.id,
            l.token,
            { kind: "completed", images: [], chargeMicros: C },
            T0 + 2000,
          ),
        ),
      ),
    );
    expect(finishes.filter(Boolean)).toHaveLength(40);
    const captures = await one<{ n: number }>(
      `SELECT COUNT(*) AS n FROM ledger_entries WHERE kind = 'capture'`,
    );
    expect(captures.n).toBe(40);
    await expectConsistent();
  });

  it("finish batches from many processes at once settle each task once, exactly", async () => {
    await race(55); // all that 100 credits hold at 1.8 each
    const leases: Array<{ proc: number; id: string; token: string; charge: number }> = [];
    await Promise.all(
      procs.map(async (s, proc) => {
        for (;;) {
          const got = await s.store.claimTasks(`w${proc}`, 4, 60_000, T0 + 1000);
          if (got.length === 0) return;
          for (const c of got)
            leases.push({
              proc,
              id: c.task.id,
              token: c.leaseToken,
              charge: (leases.length % 7) * 250_000,
            });
        }
      }),
    );
    expect(leases).toHaveLength(55);

    // Each task finished three times at once: twice by its own process (the two land in
    // one batch or in two) and once by the next one; a seventh of them fail instead.
    const outcome = (l: (typeof leases)[number], i: number) =>
      i % 7 === 3
        ? { kind: "failed" as const, code: "service_error" as const, message: "upstream down" }
        : { kind: "completed" as const, images: [], chargeMicros: l.charge };
    const finishes = await Promise.all(
      leases.flatMap((l, i) =>
        [l.proc, l.proc, (l.proc + 1) % PROCESSES].map((proc) =>
          procs[proc]!.store.finishTask(l.id, l.token, outcome(l, i), T0 + 2000 + i),
        ),
      ),
    );
    // One of each task's three finishes won.
    for (let i = 0; i < leases.length; i++)
      expect(finishes.slice(3 * i, 3 * i + 3).filter(Boolean)).toHaveLength(1);

    const charged = leases.reduce((sum, l, i) => sum + (i % 7 === 3 ? 0 : l.charge), 0);
    const spent = await one<{ used: number }>(
      `SELECT COALESCE(SUM(credits_used_micros), 0) AS used FROM tasks`,
    );
    expect(spent.used).toBe(charged);
    const settled = await procs[0]!.db.query<{ task_id: string; n: number }>(
      `SELECT task_id, COUNT(*) AS n FROM ledger_entries
       WHERE kind IN ('capture', 'release') GROUP BY task_id`,
    );
    expect(settled).toHaveLength(55);
    for (const r of settled) expect(r.n).toBe(2);
    await expectConsistent();
    expect(await procs[0]!.admin.checkLedger()).toEqual([]);

    // Every entry's running balance and hold follow from the one before it, as if each
    // finish had been settled alone, whatever batch it went in.
    const entries = await procs[0]!.db.query<{
      kind: string;
      amount_micros: number;
      balance_after_micros: number;
      held_after_micros: number;
    }>(
      `SELECT kind, amount_micros, balance_after_micros, held_after_micros FROM ledger_entries
       WHERE account_id = $1 ORDER BY id`,
      [p.accountId],
    );
    let balance = 0;
    let held = 0;
    for (const e of entries) {
      const amount = Number(e.amount_micros);
      if (e.kind === "topup") balance += amount;
      else if (e.kind === "reserve") held += amount;
      else if (e.kind === "capture") {
        balance -= amount;
        held -= amount;
      } else if (e.kind === "release") held -= amount;
      // A capture carries the figures after its release too: both are one settlement.
      if (e.kind === "capture") continue;
      expect([e.kind, Number(e.balance_after_micros), Number(e.held_after_micros)]).toEqual([
        e.kind,
        balance,
        held,
      ]);
    }
    expect(held).toBe(0);
  });

  it("a finish refused in a batch fails alone; the others in it are written", async () => {
    await race(3);
    const got = await procs[0]!.store.claimTasks("w", 3, 60_000, T0 + 1000);
    expect(got).toHaveLength(3);
    const results = await Promise.allSettled(
      got.map((c, i) =>
        procs[0]!.store.finishTask(
          c.task.id,
          c.leaseToken,
          // More than the 1.8 reserved: the database refuses the settlement.
          { kind: "completed", images: [], chargeMicros: i === 1 ? 5 * C : C },
          T0 + 2000,
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const statuses = await procs[0]!.db.query<{ id: string; status: string }>(
      `SELECT id, status FROM tasks ORDER BY id`,
    );
    const byId = new Map(statuses.map((r) => [r.id, r.status]));
    expect(got.map((c) => byId.get(c.task.id))).toEqual(["completed", "processing", "completed"]);
    await expectConsistent();
  });

  it("a dead worker's tasks go to the others once its lease lapses", async () => {
    await race(6);
    const dead = await procs[0]!.store.claimTasks("dead", 6, 1_000, T0 + 100);
    expect(dead).toHaveLength(6);
    await procs[0]!.close(); // the process is gone; its leases stay until they lapse
    procs = procs.slice(1);
    expect(await procs[0]!.store.claimTasks("live", 6, 30_000, T0 + 1_000)).toHaveLength(0);
    const [a, b] = await Promise.all([
      procs[0]!.store.claimTasks("live-a", 6, 30_000, T0 + 1_101),
      procs[1]!.store.claimTasks("live-b", 6, 30_000, T0 + 1_101),
    ]);
    const taken = [...a!, ...b!].map((c) => c.task.id).sort();
    expect(taken).toEqual(dead.map((c) => c.task.id).sort());
    for (const c of [...a!, ...b!]) expect(c.task.attempts).toBe(2);
    // The dead worker's token is fenced off.
    expect(
      await procs[1]!.store.finishTask(
        dead[0]!.task.id,
        dead[0]!.leaseToken,
        { kind: "failed", code: "service_error", message: "x" },
        T0 + 1_200,
      ),
    ).toBe(false);
    await expectConsistent();
  });
});
