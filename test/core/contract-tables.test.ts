/**
 * The catalogue is checked against the contract itself: these tests read the
 * repository's verbatim copy of it (docs/spec/api.md, refreshed from the team's shared
 * spec) and fail if a table row and the code disagree.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { API_ERRORS, type ApiErrorCode } from "../../src/core/errors.js";
import { FAILURE_CODES } from "../../src/core/failure.js";
import { BUILTIN_MODELS } from "../../src/core/models.js";
import { RATIO_TABLE, type Ratio } from "../../src/core/size.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const spec = readFileSync(path.resolve(here, "../../docs/spec/api.md"), "utf8");

function tableAfter(heading: string): string[][] {
  const start = spec.indexOf(heading);
  expect(start, `api.md has "${heading}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  let seenTable = false;
  for (const line of spec.slice(start).split("\n").slice(1)) {
    if (line.startsWith("|")) {
      seenTable = true;
      if (/^\|\s*-/.test(line)) continue;
      rows.push(
        line
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim()),
      );
    } else if (seenTable) break;
  }
  return rows.slice(1); // without the header
}

describe("api.md ↔ code", () => {
  it("every row of 'Errors at submission' matches the error catalogue", () => {
    const rows = tableAfter("Errors at submission:");
    expect(rows.length).toBeGreaterThanOrEqual(10);
    for (const [status, codeCell, type] of rows) {
      const code = /`([a-z_]+)`/.exec(codeCell!)![1] as ApiErrorCode;
      expect(API_ERRORS[code], code).toBeDefined();
      expect([API_ERRORS[code].status, API_ERRORS[code].type], code).toEqual([
        Number(status),
        type!.replace(/`/g, ""),
      ]);
    }
  });

  it("every business code of a failed task exists, and nothing else", () => {
    const para = spec.slice(spec.indexOf("Business codes for `error.code`"));
    const listed = [...para.slice(0, para.indexOf("\n\n")).matchAll(/`([a-z_]+)`/g)]
      .map((m) => m[1])
      .filter((c) => c !== "error");
    expect(new Set(listed.filter((c) => c !== "code"))).toEqual(new Set(FAILURE_CODES));
  });

  it("the ratio × quality table is copied cell for cell", () => {
    const rows = tableAfter("Ratio × quality → pixels");
    expect(rows).toHaveLength(11);
    for (const [ratio, k1, k2, k4] of rows) {
      const table = RATIO_TABLE[ratio as Ratio];
      expect(table, ratio).toBeDefined();
      expect([table["1K"].join("x"), table["2K"].join("x"), table["4K"].join("x")], ratio).toEqual([
        k1,
        k2,
        k4,
      ]);
    }
  });

  it("the model catalogue matches the per-model rules table", () => {
    const rows = tableAfter("## Model catalogue");
    for (const [model, promptMax, quality, pixels, priority] of rows) {
      const id = model!.replace(/`/g, "");
      const m = BUILTIN_MODELS.find((b) => b.id === id)!;
      expect(m, id).toBeDefined();
      expect(m.promptMaxChars).toBe(Number(/\d+/.exec(promptMax!)![0]));
      const qualities = quality!
        .split("(")[0]!
        .split(",")
        .map((q) => q.trim());
      expect(m.qualities).toEqual(qualities);
      expect(m.defaultQuality).toBe(/\((\w+)\)/.exec(quality!)![1]);
      const [min, max] = /\[(\d+),\s*(\d+)\]/.exec(pixels!)!.slice(1).map(Number);
      expect([m.minPixels, m.maxPixels]).toEqual([min, max]);
      expect(m.promptPriorities).toEqual(priority!.split(",").map((p) => p.trim()));
    }
  });
});
