/**
 * Money is integer micro-credits everywhere (1 credit = 1_000_000 micros). Decimal
 * text is parsed exactly (no float on the way in); products are computed in BigInt
 * and rounded half-up once (no float on the way through); the JSON edge divides by
 * 1e6, which prints the exact decimal for any integer below 2^53.
 */
export const MICROS_PER_CREDIT = 1_000_000;
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

export function microsToCredits(m: number): number {
  return m / MICROS_PER_CREDIT;
}

/** "12.5" / 12.5 → 12_500_000. At most 6 decimals; null for anything else. */
export function parseCredits(
  x: string | number,
  opts: { allowNegative?: boolean } = {},
): number | null {
  let s: string;
  if (typeof x === "number") {
    if (!Number.isFinite(x)) return null;
    // Numbers from JSON: their shortest decimal form is what the sender wrote.
    s = String(x);
    if (/e/i.test(s)) return null;
  } else s = x.trim();
  const m = /^(-)?(\d+)(?:\.(\d{1,6}))?$/.exec(s);
  if (!m) return null;
  if (m[1] && !opts.allowNegative) return null;
  const micros = BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? "").padEnd(6, "0") || "0");
  if (micros > MAX) return null;
  return Number(m[1] ? -micros : micros);
}

/** A multiplier such as "0.85" → 850_000 parts per million. */
export function ppmFromMultiplier(x: string | number): number | null {
  return parseCredits(x);
}

function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n);
}

/** What is held at submission: price × n × multiplier. */
export function reserveMicros(priceMicros: number, n: number, multiplierPpm: number): number {
  return Number(roundHalfUp(BigInt(priceMicros) * BigInt(n) * BigInt(multiplierPpm), 1_000_000n));
}

/** What is charged on completion: price × images generated × multiplier. */
export function chargeMicros(
  priceMicros: number,
  generated: number,
  multiplierPpm: number,
): number {
  return reserveMicros(priceMicros, generated, multiplierPpm);
}
