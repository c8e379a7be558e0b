/**
 * Unwrapping WOFF: the font the sandbox ships only as WOFF comes out as an sfnt whose
 * every table matches the checksum the WOFF recorded for it (so each was inflated to
 * exactly its original bytes), and anything else is refused with a clear error.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { FONT_FILES } from "../../../src/providers/sandbox/fonts.js";
import { sfntFromWoff, woffSfntSize } from "../../../src/providers/sandbox/woff.js";

/** The OpenType table checksum: the sum of its big-endian 32-bit words, zero-padded. */
function checksum(table: Buffer): number {
  const padded = Buffer.concat([table, Buffer.alloc((4 - (table.length % 4)) % 4)]);
  let sum = 0;
  for (let i = 0; i < padded.length; i += 4) sum = (sum + padded.readUInt32BE(i)) >>> 0;
  return sum;
}

describe("sfntFromWoff", () => {
  it("gives back every table of the shipped WOFF, byte for byte", async () => {
    const woff = await readFile(FONT_FILES.unifontWoff);
    const ttf = await sfntFromWoff(woff);
    expect(ttf.length).toBe(woffSfntSize(woff)); // the size the WOFF header promises
    expect(ttf.readUInt32BE(0)).toBe(woff.readUInt32BE(4)); // the flavour: TrueType
    const numTables = ttf.readUInt16BE(4);
    expect(numTables).toBe(woff.readUInt16BE(12));
    expect(numTables).toBeGreaterThan(8);
    const tags: string[] = [];
    for (let i = 0; i < numTables; i++) {
      const r = 12 + i * 16;
      const tag = ttf.subarray(r, r + 4).toString("latin1");
      const table = ttf.subarray(
        ttf.readUInt32BE(r + 8),
        ttf.readUInt32BE(r + 8) + ttf.readUInt32BE(r + 12),
      );
      tags.push(tag);
      expect(table.length, tag).toBe(ttf.readUInt32BE(r + 12));
      // head's checksum leaves out its own checkSumAdjustment field.
      const sum =
        tag === "head"
          ? checksum(Buffer.concat([table.subarray(0, 8), Buffer.alloc(4), table.subarray(12)]))
          : checksum(table);
      expect(sum, tag).toBe(ttf.readUInt32BE(r + 4));
    }
    expect(tags).toEqual(expect.arrayContaining(["cmap", "glyf", "head", "hmtx", "loca", "name"]));
  });

  it("refuses what is not WOFF 1.0", async () => {
    const ttf = await readFile(FONT_FILES.regular);
    await expect(sfntFromWoff(ttf)).rejects.toThrow("not a WOFF 1.0 file");
    const woff = await readFile(FONT_FILES.unifontWoff);
    await expect(sfntFromWoff(woff.subarray(0, 2000))).rejects.toThrow(/truncated/);
  });
});
