/**
 * The admin store and the webhook outbox on PostgreSQL under concurrency (issue 14):
 * several processes, each with its own pool, on one database. Dispatchers claiming at
 * once never lease one delivery twice; concurrent top-ups and adjustments lose no
 * update, never take a balance below its hold, and leave a ledger whose every entry's
 * balance follows from the one before. nextDueMs agrees with the plain MIN over every
 * pending row while reading only the rows in flight, and the hot statements walk the
 * partial index webhook_outbox_due.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PgAdmin } from "../../../src/store/postgres/admin.js";
import { PgDatabase } from "../../../src/store/postgres/database.js";
import { migratePostgres } from "../../../src/store/postgres/migrate.js";
import { OUTBOX_SQL, PgOutbox } from "../../../src/store/postgres/outbox.js";
import { freshSchema, PG_URL, postgresAnswers } from "../../helpers/postgres.js";

const up = await postgresAnswers();

const T0 = 1_800_000_000_000;
const PROCESSES = 4;

describe.skipIf(!up)("PostgreSQL admin and outbox under concurrency", () => {
  let schema: string;
  let drop: () => Promise<void>;
  /** One pool per simulated process, all on the same schema. */
  let pools: PgDatabase[];

  beforeEach(async () => {
    ({ schema, drop } = await freshSchema());
    pools = Array.from({ length: PROCESSES }, () => new PgDatabase(PG_URL, { schema, max: 3 }));
    await migratePostgres(pools[0]!);
    await new PgAdmin(pools[0]!).putGroup("default", 1_000_000, T0);
  });

  afterEach(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await drop();
  });

  const db = () => pools[0]!;

  /** `n` pending deliveries of account `acct_a`, due at `dueMs` (+ i when `spread`). */
  async function deliveries(n: number, dueMs: number, spread = false): Promise<void> {
    await db().query(
      `INSERT INTO webhook_outbox (id, task_id, account_id, url, next_attempt_ms, created_ms)
       SELECT 'msg_' || lpad(i::text, 6, '0'), 'task_' || i, 'acct_a', 'https://hooks.example/x',
              $2::bigint + CASE WHEN $3 THEN i ELSE 0 END, $2
       FROM generate_series(1, $1::int) AS i`,
      [n, dueMs, spread],
    );
  }

  async function account(id: string): Promise<void> {
    const made = await new PgAdmin(db()).createAccount({
      id,
      name: id,
      group: "default",
      webhookSecret: `whsec_${id}`,
      nowMs: T0,
    });
    expect(made.ok).toBe(true);
  }

  it("dispatchers on separate pools claiming at once never lease one delivery twice", async () => {
    await account("acct_a");
    const N = 300;
    await deliveries(N, T0);
    const outboxes = pools.map((p) => new PgOutbox(p));
    const claimedBy = new Map<string, number>();
    const duplicates: string[] = [];
    // Each process claims small batches, three at a time, until nothing is left.
    await Promise.all(
      outboxes.flatMap((o, proc) =>
        Array.from({ length: 3 }, async () => {
          for (;;) {
            const got = await o.claimDue(7, 60_000, T0 + 1);
            if (got.length === 0) return;
            for (const d of got) {
              expect(d.secret).toBe("whsec_acct_a");
              if (claimedBy.has(d.id)) duplicates.push(d.id);
              claimedBy.set(d.id, proc);
            }
          }
        }),
      ),
    );
    expect(duplicates).toEqual([]);
    expect(claimedBy.size).toBe(N);
    // More than one process took part (the claims really were concurrent).
    expect(new Set(claimedBy.values()).size).toBeGreaterThan(1);
    // Every row is leased and nothing more is due before the leases end.
    expect(await outboxes[0]!.claimDue(100, 60_000, T0 + 2)).toEqual([]);
    expect(await outboxes[0]!.nextDueMs()).toBe(T0 + 1 + 60_000);
  });

  it("a lapsed lease taken over by one process fences the other's attempt", async () => {
    await account("acct_a");
    await deliveries(1, T0);
    const [a, b] = [new PgOutbox(pools[0]!), new PgOutbox(pools[1]!)];
    const [first] = await a.claimDue(1, 1000, T0);
    // Both try to take the lapsed lease at once: exactly one gets it.
    const takes = await Promise.all([
      b.claimDue(1, 1000, T0 + 1001),
      a.claimDue(1, 1000, T0 + 1001),
    ]);
    expect(takes.flat()).toHaveLength(1);
    const taken = takes.flat()[0]!;
    const attempt = (leaseToken: string) => ({
      id: first!.id,
      leaseToken,
      attempt: 1,
      statusCode: 200,
      latencyMs: 3,
      errorKind: null,
      errorMessage: null,
      verdict: { status: "delivered" as const },
      nowMs: T0 + 1002,
    });
    const [stale, fresh] = await Promise.all([
      a.recordAttempt(attempt(first!.leaseToken)),
      b.recordAttempt(attempt(taken.leaseToken)),
    ]);
    expect([stale, fresh]).toEqual([false, true]);
    const got = await a.getDelivery(first!.id);
    expect(got).toMatchObject({ status: "delivered", attempts: 1 });
    expect(got!.attemptList).toHaveLength(1);
  });

  it("concurrent top-ups and adjustments from several pools keep the ledger exact", async () => {
    await account("acct_a");
    await account("acct_b");
    const admins = pools.map((p) => new PgAdmin(p));
    await admins[0]!.moveCredits("acct_a", {
      kind: "topup",
      amountMicros: 1_000,
      reason: "seed",
      nowMs: T0,
    });
    // 40 top-ups of 7 race 120 debits of 13 on one account, and on another account
    // 60 debits of 10 race to take its 300 down: exactly 30 of those may succeed.
    await admins[0]!.moveCredits("acct_b", {
      kind: "topup",
      amountMicros: 300,
      reason: "seed",
      nowMs: T0,
    });
    const moves = [
      ...Array.from({ length: 40 }, () => ["acct_a", "topup", 7] as const),
      ...Array.from({ length: 120 }, () => ["acct_a", "adjust", -13] as const),
      ...Array.from({ length: 60 }, () => ["acct_b", "adjust", -10] as const),
    ];
    const results = await Promise.all(
      moves.map(([acct, kind, amount], i) =>
        admins[i % PROCESSES]!.moveCredits(acct, {
          kind,
          amountMicros: amount,
          reason: "race",
          nowMs: T0 + i,
        }),
      ),
    );
    const ok = results.map((r, i) => ({ r, move: moves[i]! })).filter((x) => x.r.ok);
    for (const r of results) if (!r.ok) expect(r.reason).toBe("would_go_below_held");
    const okB = ok.filter((x) => x.move[0] === "acct_b");
    expect(okB).toHaveLength(30);
    const sumA = ok.filter((x) => x.move[0] === "acct_a").reduce((s, x) => s + x.move[2], 1_000);
    const a = (await admins[1]!.getAccount("acct_a"))!;
    const b = (await admins[1]!.getAccount("acct_b"))!;
    expect(a.balanceMicros).toBe(sumA);
    expect(a.balanceMicros).toBeGreaterThanOrEqual(0);
    expect(b.balanceMicros).toBe(0);
    // Every entry's balance follows from the one before it, in id order.
    for (const acct of ["acct_a", "acct_b"]) {
      const rows = await db().query<{ amount_micros: number; balance_after_micros: number }>(
        `SELECT amount_micros, balance_after_micros FROM ledger_entries WHERE account_id = $1 ORDER BY id`,
        [acct],
      );
      let balance = 0;
      for (const r of rows) {
        balance += r.amount_micros;
        expect(r.balance_after_micros).toBe(balance);
      }
    }
    expect(await admins[2]!.checkLedger()).toEqual([]);
  });

  it("nextDueMs equals the MIN over every pending row, leased, lapsed or free", async () => {
    await account("acct_a");
    const outbox = new PgOutbox(db());
    const naive = async () => {
      const [r] = await db().query<{ due: number | null }>(
        `SELECT MIN(CASE WHEN lease_expires_ms IS NULL OR lease_expires_ms < next_attempt_ms
                         THEN next_attempt_ms ELSE lease_expires_ms END) AS due
         FROM webhook_outbox WHERE status = 'pending'`,
      );
      return r!.due;
    };
    expect(await outbox.nextDueMs()).toBeNull();
    await deliveries(40, T0, true); // due at T0+1 … T0+40
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    for (let round = 0; round < 30; round++) {
      const t = T0 + rand(60);
      const step = rand(4);
      if (step === 0) await outbox.claimDue(1 + rand(5), 1 + rand(100), t);
      else if (step === 1) {
        // Lapsed and stale leases, as a dead dispatcher leaves them.
        await db().query(
          `UPDATE webhook_outbox SET lease_token = 'x', lease_expires_ms = $1
           WHERE id = (SELECT id FROM webhook_outbox ORDER BY md5(id || $2) LIMIT 1)`,
          [T0 + rand(80), round],
        );
      } else if (step === 2) {
        await db().query(
          `UPDATE webhook_outbox SET status = 'delivered', lease_token = NULL, lease_expires_ms = NULL
           WHERE id = (SELECT id FROM webhook_outbox WHERE status = 'pending' ORDER BY md5(id || $1) LIMIT 1)`,
          [round],
        );
      } else {
        await db().query(
          `UPDATE webhook_outbox SET lease_token = NULL, lease_expires_ms = NULL
           WHERE id = (SELECT id FROM webhook_outbox ORDER BY md5(id || $1) LIMIT 1)`,
          [round],
        );
      }
      expect(await outbox.nextDueMs(), `round ${round}`).toBe(await naive());
    }
    // Everything leased: the earliest lease end.
    await db().query(
      `UPDATE webhook_outbox SET status = 'pending', lease_token = 'y', lease_expires_ms = next_attempt_ms + 500`,
    );
    expect(await outbox.nextDueMs()).toBe(T0 + 501);
  });

  it("claims and nextDueMs walk webhook_outbox_due, never the whole table", async () => {
    await account("acct_a");
    // Many deliveries: most done, a backlog pending far in the future, a few in flight.
    await db().query(
      `INSERT INTO webhook_outbox (id, task_id, account_id, url, status, next_attempt_ms, created_ms)
       SELECT 'msg_' || i, 'task_' || i, 'acct_a', 'https://hooks.example/x',
              CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'delivered' END, $1::bigint + i, $1
       FROM generate_series(1, 50000) AS i`,
      [T0],
    );
    await new PgOutbox(db()).claimDue(20, 60_000, T0 + 1000);
    await db().query(`ANALYZE webhook_outbox`);
    const plan = async (sql: string, params: unknown[]) =>
      (await db().query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params))
        .map((r) => r["QUERY PLAN"])
        .join("\n");
    const nextDue = await plan(OUTBOX_SQL.nextDue, []);
    expect(nextDue).toContain("webhook_outbox_due");
    expect(nextDue).not.toMatch(/Seq Scan|Sort/);
    const claim = await plan(OUTBOX_SQL.claimDue, ["tok", T0 + 61_000, T0 + 1000, 10]);
    expect(claim).toContain("webhook_outbox_due");
    expect(claim).not.toMatch(/Seq Scan on webhook_outbox/);
  });
});
