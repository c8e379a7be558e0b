/**
 * Which channel serves the next call: the lowest priority number among the channels
 * that can take a call now (a busy or broken tier spills over to the next), then a
 * weighted random pick within that tier. Pure: the random source is a parameter.
 */

export interface Candidate {
  id: string;
  priority: number;
  weight: number;
}

/** The candidates of the best (lowest-number) priority tier. */
export function bestTier<T extends Candidate>(candidates: readonly T[]): T[] {
  if (candidates.length === 0) return [];
  const best = Math.min(...candidates.map((c) => c.priority));
  return candidates.filter((c) => c.priority === best);
}

/** Weighted random pick; `random` returns [0, 1). Weights must be > 0. */
export function weightedPick<T extends Candidate>(
  tier: readonly T[],
  random: () => number,
): T | undefined {
  const total = tier.reduce((sum, c) => sum + c.weight, 0);
  if (tier.length === 0 || !(total > 0)) return tier[0];
  let r = random() * total;
  for (const c of tier) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return tier[tier.length - 1];
}

export function pickChannel<T extends Candidate>(
  candidates: readonly T[],
  random: () => number,
): T | undefined {
  return weightedPick(bestTier(candidates), random);
}
