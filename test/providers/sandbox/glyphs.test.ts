/**
 * Sandbox images speak every language: Chinese, Japanese, Korean and emoji in a prompt
 * draw as glyphs, not as missing-glyph boxes ("tofu": Pango draws a frame holding the
 * code point's hex digits). Each character is drawn alone through the sandbox's own
 * text path and compared with what a code point no font has looks like (U+E000, and
 * U+F0000 for one beyond the BMP, whose box is wider). A positive control draws the
 * same characters in a process whose CJK and emoji fonts are withheld: the detector
 * must then see the boxes. (That control assumes the machine has no CJK system font,
 * as the project's machines do not.)
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { drawTextMask, type TextMask } from "../../../src/providers/sandbox/text-mask.js";
import { renderSandboxImage } from "../../../src/providers/sandbox/render.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../../..");
const PX = 48;
const PROMPT = "猫 ねこ 고양이 😺 🦊";
const CHARS = [...PROMPT.replace(/ /g, "")];
const MISSING_BMP = "\ue000";
const MISSING_ASTRAL = "\u{f0000}";

/** The ink's bounding box, and how much of each of its four edges is inked. */
function edges(m: TextMask) {
  const ink = (x: number, y: number) => m.data[y * m.width + x]! > 127;
  let [x0, y0, x1, y1] = [m.width, m.height, -1, -1];
  for (let y = 0; y < m.height; y++)
    for (let x = 0; x < m.width; x++)
      if (ink(x, y))
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  if (x1 < 0) return { width: 0, height: 0, least: 0 };
  const share = (pts: Array<[number, number]>) =>
    pts.filter(([x, y]) => ink(x, y)).length / pts.length;
  const row = (y: number) =>
    Array.from({ length: x1 - x0 + 1 }, (_, i): [number, number] => [x0 + i, y]);
  const col = (x: number) =>
    Array.from({ length: y1 - y0 + 1 }, (_, i): [number, number] => [x, y0 + i]);
  return {
    width: x1 - x0 + 1,
    height: y1 - y0 + 1,
    least: Math.min(share(row(y0)), share(row(y1)), share(col(x0)), share(col(x1))),
  };
}

/** A missing-glyph box: a closed frame around the ink, the size of the known boxes. */
function isTofu(m: TextMask, boxes: TextMask[]): boolean {
  const e = edges(m);
  return (
    e.least > 0.9 &&
    boxes.some((b) => {
      const be = edges(b);
      return Math.abs(be.width - e.width) <= 2 && Math.abs(be.height - e.height) <= 2;
    })
  );
}

async function boxes(): Promise<TextMask[]> {
  return Promise.all([drawTextMask(MISSING_BMP, PX), drawTextMask(MISSING_ASTRAL, PX)]);
}

/** The characters drawn in a process of their own with only `fonts` loaded. */
async function drawElsewhere(
  fonts: string | undefined,
  texts: string[],
  env: Record<string, string> = {},
): Promise<TextMask[]> {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "fixtures/glyph-masks.ts"), ...texts],
    {
      cwd: root,
      env: {
        ...process.env,
        ...(fonts ? { GLYPH_FONTS: fonts } : {}),
        GLYPH_PX: String(PX),
        ...env,
      },
    },
  );
  const out = JSON.parse(stdout) as Array<{ width: number; height: number; data: string }>;
  return out.map((m) => ({
    width: m.width,
    height: m.height,
    data: Buffer.from(m.data, "base64"),
  }));
}

describe("missing glyphs", () => {
  it("the detector recognises the box Pango draws for a code point no font has", async () => {
    const known = await boxes();
    for (const box of known) {
      expect(edges(box).least).toBeGreaterThan(0.9);
      expect(isTofu(box, known)).toBe(true);
    }
    // An ordinary letter is no box.
    expect(isTofu(await drawTextMask("a", PX), known)).toBe(false);
  });

  it("Chinese, Japanese, Korean and emoji draw as glyphs, each unlike the box", async () => {
    const known = await boxes();
    for (const ch of CHARS) {
      const m = await drawTextMask(ch, PX);
      expect(m.width, ch).toBeGreaterThan(0);
      expect(isTofu(m, known), `${ch} U+${ch.codePointAt(0)!.toString(16)}`).toBe(false);
    }
  });

  it("positive control: with the CJK and emoji fonts withheld, the detector sees boxes", async () => {
    const [bmpBox, astralBox, ...drawn] = await drawElsewhere("regular,bold", [
      MISSING_BMP,
      MISSING_ASTRAL,
      ...CHARS,
    ]);
    const known = [bmpBox!, astralBox!];
    const tofu = CHARS.filter((_, i) => isTofu(drawn[i]!, known));
    // DejaVu Sans has a few emoji (😺 among them) but no CJK and no 🦊.
    expect(tofu).toEqual(["猫", "ね", "こ", "고", "양", "이", "🦊"]);
  });

  it("a process with a fresh temp directory unwraps the CJK font there and draws glyphs", async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), "darkroom-glyphs-"));
    try {
      const [bmpBox, astralBox, ...drawn] = await drawElsewhere(
        undefined,
        [MISSING_BMP, MISSING_ASTRAL, ...CHARS],
        { TMPDIR: tmp },
      );
      const known = [bmpBox!, astralBox!];
      expect(CHARS.filter((_, i) => isTofu(drawn[i]!, known))).toEqual([]);
      const written = await readdir(path.join(tmp, "darkroom-sandbox-fonts"));
      expect(written).toEqual([
        expect.stringMatching(/^unifontex-latin-400-normal-[0-9a-f]{16}\.ttf$/),
      ]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("a sandbox image with such a prompt renders, and its text differs from a tofu prompt's", async () => {
    const base = {
      index: 0,
      total: 1,
      width: 640,
      height: 360,
      model: "m",
      format: "png" as const,
    };
    const legible = await renderSandboxImage({ ...base, prompt: PROMPT });
    // The same number of characters, every one of them missing from every font.
    const missing = await renderSandboxImage({
      ...base,
      prompt: PROMPT.replace(/[^ ]/gu, MISSING_BMP),
    });
    const meta = await sharp(legible).metadata();
    expect([meta.width, meta.height]).toEqual([640, 360]);
    expect(legible.equals(missing)).toBe(false);
  });
});
