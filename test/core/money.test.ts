import { describe, expect, it } from "vitest";
import {
  chargeMicros,
  microsToCredits,
  parseCredits,
  ppmFromMultiplier,
  reserveMicros,
} from "../../src/core/money.js";

describe("money", () => {
  it("parses decimals exactly", () => {
    expect(parseCredits("1.8")).toBe(1_800_000);
    expect(parseCredits(1.8)).toBe(1_800_000);
    expect(parseCredits("0.000001")).toBe(1);
    expect(parseCredits("100")).toBe(100_000_000);
    expect(parseCredits(0.1)! + parseCredits(0.2)!).toBe(parseCredits("0.3"));
  });

  it("refuses what it cannot represent exactly", () => {
    for (const x of [
      "1.0000001",
      "abc",
      "",
      "1e3",
      "-1",
      "1.",
      ".5",
      "NaN",
      "Infinity",
      "99999999999999999",
    ]) {
      expect(parseCredits(x), x).toBeNull();
    }
    expect(parseCredits(Number.NaN)).toBeNull();
    expect(parseCredits(1e21)).toBeNull();
    expect(parseCredits("-1.5", { allowNegative: true })).toBe(-1_500_000);
  });

  it("prices: price × n × multiplier, rounded half up once", () => {
    expect(reserveMicros(1_800_000, 1, 1_000_000)).toBe(1_800_000);
    expect(reserveMicros(1_800_000, 15, 850_000)).toBe(22_950_000);
    expect(reserveMicros(1, 1, 500_000)).toBe(1); // 0.5 micro rounds up
    expect(reserveMicros(1, 1, 499_999)).toBe(0);
    expect(microsToCredits(reserveMicros(1_800_000, 3, ppmFromMultiplier("0.8")!))).toBe(4.32);
  });

  it("a charge never exceeds the reservation", () => {
    for (const price of [1, 7, 1_800_000, 2_500_001]) {
      for (const ppm of [0, 1, 333_333, 1_000_000, 1_750_000]) {
        for (let n = 1; n <= 15; n++) {
          for (let k = 0; k <= n; k++)
            expect(chargeMicros(price, k, ppm)).toBeLessThanOrEqual(reserveMicros(price, n, ppm));
        }
      }
    }
  });

  it("prints credits as their exact decimal", () => {
    expect(String(microsToCredits(1_800_000))).toBe("1.8");
    expect(String(microsToCredits(66_600_000))).toBe("66.6");
    expect(String(microsToCredits(300_000))).toBe("0.3");
  });
});
