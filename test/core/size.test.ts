import { describe, expect, it } from "vitest";
import { BUILTIN_MODELS } from "../../src/core/models.js";
import { RATIOS, ratioPixels, resolveSize } from "../../src/core/size.js";

const [v40, v45, v50] = BUILTIN_MODELS as [
  (typeof BUILTIN_MODELS)[0],
  (typeof BUILTIN_MODELS)[0],
  (typeof BUILTIN_MODELS)[0],
];

describe("resolveSize", () => {
  it("auto is 2048x2048", () => {
    expect(resolveSize("auto", "2K", v40)).toEqual({
      ok: true,
      size: { kind: "auto", width: 2048, height: 2048 },
    });
  });

  it("a ratio takes its pixels from quality", () => {
    expect(resolveSize("16:9", "1K", v40)).toMatchObject({
      ok: true,
      size: { width: 1280, height: 720 },
    });
    expect(resolveSize("21:9", "4K", v40)).toMatchObject({
      ok: true,
      size: { width: 6240, height: 2656 },
    });
  });

  it("tiers are squares and must be offered by the model", () => {
    expect(resolveSize("4K", "2K", v40)).toMatchObject({
      ok: true,
      size: { width: 4096, height: 4096 },
    });
    expect(resolveSize("1K", "2K", v45).ok).toBe(false);
    expect(resolveSize("3K", "2K", v40).ok).toBe(false);
    expect(resolveSize("3K", "2K", v50)).toMatchObject({
      ok: true,
      size: { width: 3072, height: 3072 },
    });
  });

  it("pixels at the exact bounds pass and one step beyond fails", () => {
    expect(resolveSize("1280x720", "2K", v40).ok).toBe(true); // 921600 = min
    expect(resolveSize("1279x720", "2K", v40).ok).toBe(false);
    expect(resolveSize("4096x4096", "2K", v40).ok).toBe(true); // 16777216 = max
    expect(resolveSize("4097x4096", "2K", v40).ok).toBe(false);
    expect(resolveSize("1280x720", "2K", v45).ok).toBe(false); // 4.5 needs ≥ 3686400
  });

  it("aspect 16 passes and just over fails", () => {
    expect(resolveSize("4800x300", "2K", { ...v40, minPixels: 1 }).ok).toBe(true);
    expect(resolveSize("4801x300", "2K", { ...v40, minPixels: 1 }).ok).toBe(false);
    expect(resolveSize("300x4800", "2K", { ...v40, minPixels: 1 }).ok).toBe(true);
    expect(resolveSize("300x4801", "2K", { ...v40, minPixels: 1 }).ok).toBe(false);
  });

  it("refuses malformed sizes", () => {
    for (const s of [
      "",
      "big",
      "7:3",
      "1024",
      "1024x",
      "x1024",
      "0x1024",
      "1024*1024",
      "-1024x1024",
      "1024x1024x1",
      " 2K",
      "2k",
      "01024x1024",
    ]) {
      expect(resolveSize(s, "2K", v40).ok, JSON.stringify(s)).toBe(false);
    }
  });

  it("ratio × 3K keeps the ratio near 3072² pixels, sides multiples of 16, within 5.0 lite's limits", () => {
    for (const r of RATIOS) {
      const [w, h] = ratioPixels(r, "3K");
      const [rw, rh] = r.split(":").map(Number) as [number, number];
      expect(w % 16, r).toBe(0);
      expect(h % 16, r).toBe(0);
      expect(Math.abs(w / h - rw / rh) / (rw / rh), r).toBeLessThan(0.02);
      expect(Math.abs(w * h - 3072 * 3072) / (3072 * 3072), r).toBeLessThan(0.03);
      expect(resolveSize(r, "3K", v50).ok, r).toBe(true);
    }
    expect(ratioPixels("1:1", "3K")).toEqual([3072, 3072]);
  });
});
