/**
 * The per-channel circuit breaker, as a pure state machine (the clock is a parameter).
 *
 *   closed ──(N consecutive counted failures, or a failure carrying Retry-After)──► open
 *   open ──(cool-down elapsed; checked lazily on the next look)──► half-open
 *   half-open ──(one probe call let through)──► success: closed │ failure: open again
 *
 * Only upstream/system faults are "counted" (see countsAgainstChannel); a caller's
 * fault (content policy, bad parameters) says nothing about the channel's health.
 */

export type BreakerStateName = "closed" | "open" | "half-open";

export interface BreakerSettings {
  /** Consecutive counted failures that open a closed breaker. */
  failureThreshold: number;
  /** How long an open breaker stays open before letting one probe through. */
  coolDownMs: number;
}

export interface BreakerState {
  state: BreakerStateName;
  consecutiveFailures: number;
  /**
   * While open: when the cool-down ends (unix ms). While half-open and probing: when the
   * probe is presumed lost, because the process making it died without saying how it
   * went (the state is shared, so a probe must not hold a channel shut for ever).
   */
  openUntil: number;
  /** While half-open: whether the single probe call is in flight. */
  probing: boolean;
}

export const DEFAULT_BREAKER: BreakerSettings = { failureThreshold: 3, coolDownMs: 30_000 };

export function closedBreaker(): BreakerState {
  return { state: "closed", consecutiveFailures: 0, openUntil: 0, probing: false };
}

/**
 * The state as of `now`: an open breaker whose cool-down passed reads as half-open, and
 * a probe past its deadline as lost (half-open, admitting the next probe).
 */
export function currentBreaker(b: BreakerState, now: number): BreakerState {
  if (b.state === "open" && now >= b.openUntil) return { ...b, state: "half-open", probing: false };
  if (b.state === "half-open" && b.probing && now >= b.openUntil) return { ...b, probing: false };
  return b;
}

/** Whether a call may start now; a half-open breaker admits exactly one probe. */
export function breakerAdmits(b: BreakerState, now: number): boolean {
  const c = currentBreaker(b, now);
  if (c.state === "closed") return true;
  if (c.state === "half-open") return !c.probing;
  return false;
}

/**
 * A call starts (the caller checked breakerAdmits). `probeDeadlineMs`: how long a probe
 * may go unsettled before it is presumed lost (longer than the call may take).
 */
export function breakerOnStart(
  b: BreakerState,
  now: number,
  probeDeadlineMs: number,
): BreakerState {
  const c = currentBreaker(b, now);
  return c.state === "half-open" ? { ...c, probing: true, openUntil: now + probeDeadlineMs } : c;
}

export function breakerOnSuccess(_b: BreakerState): BreakerState {
  return closedBreaker();
}

/**
 * A counted failure. `retryAfterMs` (an upstream 429/503 with Retry-After) opens the
 * breaker at once for at least that long.
 */
export function breakerOnFailure(
  b: BreakerState,
  now: number,
  s: BreakerSettings,
  retryAfterMs?: number,
): BreakerState {
  const c = currentBreaker(b, now);
  const failures = c.consecutiveFailures + 1;
  const open = (ms: number): BreakerState => ({
    state: "open",
    consecutiveFailures: failures,
    openUntil: now + ms,
    probing: false,
  });
  if (retryAfterMs !== undefined && retryAfterMs > 0)
    return open(Math.max(retryAfterMs, c.state === "half-open" ? s.coolDownMs : 0));
  if (c.state === "half-open" || failures >= s.failureThreshold) return open(s.coolDownMs);
  return { ...c, consecutiveFailures: failures };
}

/** A call ended in a way that says nothing about the channel (caller fault, cancel). */
export function breakerOnNeutral(b: BreakerState, now: number): BreakerState {
  const c = currentBreaker(b, now);
  return c.state === "half-open" ? { ...c, probing: false } : c;
}
