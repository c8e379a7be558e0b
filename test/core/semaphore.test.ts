import { describe, expect, it } from "vitest";
import { Semaphore } from "../../src/core/semaphore.js";

describe("Semaphore", () => {
  it("runs at most `limit` at once, in arrival order", async () => {
    const sem = new Semaphore(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    });
    const jobs = gates.map((g, i) =>
      sem.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await g.promise;
        running--;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    expect(sem.waiting).toBe(3);
    gates[1]!.resolve();
    await jobs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.resolve();
    await Promise.all(jobs);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect([sem.active, sem.waiting]).toEqual([0, 0]);
  });

  it("a waiter whose signal aborts leaves the queue with the signal's reason", async () => {
    const sem = new Semaphore(1);
    const release = await sem.acquire();
    const ac = new AbortController();
    const waiting = sem.acquire(ac.signal);
    const after = sem.acquire();
    ac.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    expect(sem.waiting).toBe(1);
    release();
    release(); // idempotent: must not free a second slot
    const r2 = await after;
    expect(sem.active).toBe(1);
    r2();
    expect(sem.active).toBe(0);
    await expect(sem.acquire(AbortSignal.abort(new Error("early")))).rejects.toThrow("early");
  });

  it("refuses a limit below 1", () => {
    expect(() => new Semaphore(0)).toThrow();
  });
});
