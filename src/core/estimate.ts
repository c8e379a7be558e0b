/**
 * `estimated_time`: the median of the last completions of a model (robust to one
 * stuck task), or the model's configured default until there are 3 samples.
 */
export class DurationEstimator {
  private readonly samples = new Map<string, number[]>();

  constructor(
    private readonly defaults: (model: string) => number,
    private readonly windowSize = 50,
  ) {}

  record(model: string, seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    const list = this.samples.get(model) ?? [];
    list.push(seconds);
    if (list.length > this.windowSize) list.shift();
    this.samples.set(model, list);
  }

  /**
   * Takes the deployment's recent completions (newest last), read from the store, in
   * place of what this process saw: every process then estimates alike, including API
   * processes that run no task themselves.
   */
  replace(samples: ReadonlyArray<{ model: string; seconds: number }>): void {
    this.samples.clear();
    for (const s of samples) this.record(s.model, s.seconds);
  }

  estimate(model: string): number {
    const list = this.samples.get(model);
    if (!list || list.length < 3) return Math.max(1, Math.round(this.defaults(model)));
    const sorted = [...list].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return Math.max(1, Math.round(median));
  }
}

/**
 * The estimate of a task submitted while its model's channels are open or full (issue
 * 14): the usual estimate, plus the time until the first open channel admits again
 * (a breaker's cool-down, an upstream's Retry-After), plus — added by the store, which
 * knows the queue — one round of the usual estimate per `slots` tasks queued ahead.
 * `slots` 0 = the queue does not lengthen the wait (the built-in sandbox's unlimited
 * channel).
 */
export function waitingEstimate(
  baseSeconds: number,
  outlook: { reopensInMs: number; slots: number },
): { estimatedSeconds: number; slots: number; roundSeconds: number } {
  const reopen = Math.max(0, Math.ceil(outlook.reopensInMs / 1000));
  return {
    estimatedSeconds: baseSeconds + reopen,
    slots: Number.isFinite(outlook.slots) ? Math.max(0, Math.floor(outlook.slots)) : 0,
    roundSeconds: baseSeconds,
  };
}
