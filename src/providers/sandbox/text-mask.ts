/**
 * Text drawn by Pango (through sharp) as a coverage mask: one byte per pixel, 255 where
 * the glyphs are solid. The colour is applied when the mask is blended into the image
 * (canvas.ts), so a mask is a quarter of an RGBA layer and never needs a PNG round trip.
 *
 * Fitting: the largest font size at which the text fits a box. libvips can autofit
 * (width and height both set), but does so by laying the text out again and again; here
 * one small single-line render measures the text (its width per pixel of font size,
 * whatever fonts the fallback picked), the size follows from that, and one render at
 * that size draws it, shrunk again only in the rare case word wrapping needed more room.
 * Masks are kept in a small cache bounded by bytes: the SANDBOX label depends only on
 * the image size and the footer on (index, total, size, model), and load tests repeat
 * prompts.
 */
import sharp from "sharp";
import { FAMILIES, sandboxFontsReady } from "./fonts.js";

export interface TextMask {
  /** Coverage, width * height bytes, row by row. */
  data: Buffer;
  width: number;
  height: number;
}

export interface TextBox {
  /** Pango markup (already escaped): the text and any spans. */
  markup: string;
  width: number;
  height: number;
  /** Font families in fallback order, with any style words (e.g. "... Bold"). */
  families?: string;
}

const EMPTY: TextMask = { data: Buffer.alloc(0), width: 0, height: 0 };
const MEASURE_PX = 32;
/** Words' worth of width a wrapped line leaves unused, on average (and a margin). */
const WORD_WASTE = 0.6;
const MAX_WASTE_EM = 3;
/** Line pitch in ems: DejaVu Sans's is 1.164; the fallback fonts' are no larger. */
const LINE_PITCH = 1.2;
const FIT_MARGIN = 0.96;
const MIN_PX = 4;

/** Draws `markup` at `px` pixels, wrapped at `wrapWidth` when given. */
export async function drawTextMask(
  markup: string,
  px: number,
  opts: { families?: string; wrapWidth?: number } = {},
): Promise<TextMask> {
  if (markup === "") return EMPTY;
  await sandboxFontsReady();
  try {
    const { data, info } = await sharp({
      text: {
        text: markup,
        font: `${opts.families ?? FAMILIES} ${px}`,
        ...(opts.wrapWidth ? { width: opts.wrapWidth, wrap: "word-char" as const } : {}),
        align: "centre",
      },
    })
      .toColourspace("b-w")
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    // Text with no ink at all (spaces, zero-width characters): libvips refuses to
    // render it. The mask is then simply empty.
    if (err instanceof Error && /no text to render/.test(err.message)) return EMPTY;
    throw err;
  }
}

/** The text at the largest size (in whole pixels) that fits the box. */
export async function fitTextMask(box: TextBox): Promise<TextMask> {
  const key = `${box.families ?? ""}\u0000${box.width}x${box.height}\u0000${box.markup}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key); // most recently used goes last
    cache.set(key, hit);
    return hit;
  }
  const mask = await fit(box);
  remember(key, mask);
  return mask;
}

async function fit(box: TextBox): Promise<TextMask> {
  const families = box.families;
  const line = await drawTextMask(box.markup, MEASURE_PX, { families });
  if (line.width === 0 || box.width < 1 || box.height < 1) return EMPTY;
  // Per px of font size: the whole text on one line, and its ink's height (libvips
  // crops to the ink; lines below the first add the line pitch).
  const emWidth = line.width / MEASURE_PX;
  const emHeight = line.height / MEASURE_PX;
  // Word wrapping leaves about half a word unused at the end of each line; a word
  // longer than a line is broken anywhere.
  const words = box.markup.split(/\s+/).filter(Boolean).length;
  const lineWaste = Math.min(MAX_WASTE_EM, (WORD_WASTE * emWidth) / Math.max(1, words));
  // The best number of lines: for n lines, the size is bounded by the height (n lines
  // tall) and by the width (the text split in n, each line losing its waste).
  let px = 0;
  for (let lines = 1; lines <= 64; lines++) {
    const byHeight = box.height / (emHeight + (lines - 1) * LINE_PITCH);
    const byWidth =
      lines === 1 ? box.width / emWidth : (lines * box.width) / (emWidth + lines * lineWaste);
    px = Math.max(px, Math.min(byHeight, byWidth));
    if (byHeight < byWidth) break; // more lines only make it smaller
  }
  // The measure is of the ink, at a small size: a margin for bearings and hinting.
  px = onLadder(px * FIT_MARGIN);
  for (let attempt = 0; ; attempt++) {
    const mask = await drawTextMask(box.markup, px, { families, wrapWidth: box.width });
    const over = Math.max(mask.height / box.height, mask.width / box.width);
    if (over <= 1 || px <= MIN_PX || attempt === 2) return mask;
    // Smaller text never needs more lines, so this size fits (bar rounding).
    px = onLadder(Math.min(px - 1, px / over));
  }
}

/**
 * The largest size on a ladder of steps ~5 % apart at or below `px`. Cairo keeps the
 * glyphs it rasterised per font size, so sizes that recur across tasks draw faster than
 * a new size for every prompt; text at most one step smaller is the price.
 */
function onLadder(px: number): number {
  if (px <= 20) return Math.max(MIN_PX, Math.floor(px));
  return Math.floor(20 * 1.05 ** Math.floor(Math.log(px / 20) / Math.log(1.05) + 1e-9));
}

/** Masks kept, by bytes: a 4K prompt mask is a few MB. */
const CACHE_BYTES = 48 * 2 ** 20;
const cache = new Map<string, TextMask>();
let cachedBytes = 0;

function remember(key: string, mask: TextMask): void {
  if (cache.has(key) || mask.data.length > CACHE_BYTES / 4) return;
  cache.set(key, mask);
  cachedBytes += mask.data.length;
  for (const [k, m] of cache) {
    if (cachedBytes <= CACHE_BYTES) break;
    cache.delete(k);
    cachedBytes -= m.data.length;
  }
}
