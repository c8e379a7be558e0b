/** The idle wait shared by the runner and the webhook dispatcher. */
import { describe, expect, it } from "vitest";
import { WakeableSleep } from "../../src/core/wakeable-sleep.js";

describe("WakeableSleep", () => {
  it("ends at its timeout when nobody wakes it", async () => {
    const idle = new WakeableSleep();
    const started = Date.now();
    await idle.sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });

  it("wake() cuts a sleep in progress short", async () => {
    const idle = new WakeableSleep();
    const started = Date.now();
    const slept = idle.sleep(60_000);
    idle.wake();
    await slept;
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a wake with no sleep in progress does not cut the next sleep short", async () => {
    const idle = new WakeableSleep();
    idle.wake();
    await idle.sleep(5); // a finished sleep leaves nothing behind for a later wake either
    idle.wake();
    let ended = false;
    const slept = idle.sleep(60_000).then(() => (ended = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(ended).toBe(false);
    idle.wake();
    await slept;
    expect(ended).toBe(true);
  });
});
