import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/http/canonical-json.js";

/** The recursive form used before (stored idempotency hashes were made with it). */
function recursiveCanonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(recursiveCanonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${recursiveCanonical(obj[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

describe("canonicalJson", () => {
  it("is byte-identical to the earlier recursive form", () => {
    const samples: unknown[] = [
      null,
      0,
      -1.5e300,
      "",
      'quote " and \\ and \u2028 and é',
      true,
      [],
      {},
      [[]],
      [{}],
      { b: 1, a: [1, "2", null, false, { z: {}, y: [] }], "": "empty key" },
      { model: "m", prompt: "p", n: 2, image_urls: ["u1", "u2"], model_params: { x: [1, [2]] } },
      [1, [2, [3, [4, {}]]], { 'k"ey': { "": [] } }],
    ];
    for (const v of samples)
      expect(canonicalJson(v), JSON.stringify(v)).toBe(recursiveCanonical(v));
  });

  it("does not depend on key order", () => {
    expect(canonicalJson({ a: 1, b: { d: 2, c: 3 } })).toBe(
      canonicalJson({ b: { c: 3, d: 2 }, a: 1 }),
    );
    expect(canonicalJson({ a: 1, b: 2 })).toBe('{"a":1,"b":2}');
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it("walks a 200k-deep array and object without overflowing the stack", () => {
    const depth = 200_000;
    const deepArray = JSON.parse("[".repeat(depth) + "]".repeat(depth)) as unknown;
    expect(() => recursiveCanonical(deepArray)).toThrow(RangeError);
    expect(canonicalJson(deepArray)).toBe("[".repeat(depth) + "]".repeat(depth));

    const deepObject = JSON.parse('{"a":'.repeat(depth) + "1" + "}".repeat(depth)) as unknown;
    expect(canonicalJson(deepObject)).toBe('{"a":'.repeat(depth) + "1" + "}".repeat(depth));
  });
});
