/**
 * A test seam for rules measured in hours (the 24 h idempotency window, a result link's
 * lifetime): moves this process's wall clock forward without sleeping. The test server
 * runs in the test's own process (vitest's forks pool: one process per file) and reads
 * time through `Date.now()` wherever a rule is decided (submissions, file links, key
 * cache), so shifting `Date.now` is what a clock jump would look like to it. Timers
 * (`setTimeout`) are untouched, so waits still work.
 *
 * Use with a server whose runner is off, or whose tasks are already finished: a jump
 * makes open leases look lapsed.
 */
import { vi } from "vitest";

export interface ShiftedClock {
  /** Adds `ms` to the current shift (the clock keeps ticking from there). */
  advance(ms: number): void;
  /** Back to the real clock. */
  restore(): void;
}

export function shiftableClock(): ShiftedClock {
  const real = Date.now.bind(Date);
  let offset = 0;
  const spy = vi.spyOn(Date, "now").mockImplementation(() => real() + offset);
  return {
    advance: (ms) => {
      offset += ms;
    },
    restore: () => spy.mockRestore(),
  };
}
