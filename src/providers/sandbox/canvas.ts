/**
 * The sandbox image as raw RGB pixels, composed by hand: a linear gradient, a darkened
 * panel, text masks in their colours, reference thumbnails. Each pixel is written once
 * or twice with integer arithmetic; libvips then only encodes. Letting libvips do this
 * (an SVG gradient scaled up, a PNG per text layer, `composite` over the whole frame)
 * cost several times the encoding itself: resize and composite work in float on every
 * pixel of the frame.
 *
 * This runs on the event loop, so every loop hands control back after about a quarter
 * of a million pixels (well under a millisecond): a 4K render never holds up polls.
 *
 * Frame buffers are reused (releaseCanvas): a fresh multi-megabyte buffer costs more in
 * page faults and garbage collection than painting it.
 */
import type { TextMask } from "./text-mask.js";

export type Rgb = readonly [number, number, number];

export interface Canvas {
  width: number;
  height: number;
  /** width * height * 3 bytes, row by row. */
  data: Buffer;
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

const PIXELS_PER_SLICE = 1 << 18;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Fixed point: 16 fractional bits. */
const ONE = 1 << 16;
const HALF = 1 << 15;

/**
 * A gradient from `from` to `to` along `angleDeg` (0 = left to right, clockwise), spanning
 * the frame corner to corner, with `panel` darkened to `panelShade` (0..1) of it.
 */
export async function paintBackground(
  width: number,
  height: number,
  from: Rgb,
  to: Rgb,
  angleDeg: number,
  panel: Rect,
  panelShade: number,
): Promise<Canvas> {
  const data = takeBuffer(width * height * 3);
  const rad = (angleDeg * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const span = Math.abs(cos) + Math.abs(sin);
  // t = ((u - .5) cos + (v - .5) sin) / span + .5 over u, v in [0, 1] stays in [0, 1].
  const du = cos / span / Math.max(1, width - 1);
  const dv = sin / span / Math.max(1, height - 1);
  const t0 = 0.5 - (cos + sin) / span / 2;
  const dx = [0, 1, 2].map((c) => Math.round((to[c]! - from[c]!) * du * ONE));
  const dy = [0, 1, 2].map((c) => (to[c]! - from[c]!) * dv);
  const base = [0, 1, 2].map((c) => from[c]! + (to[c]! - from[c]!) * t0);
  const shade = Math.round(panelShade * ONE);
  const pl = Math.max(0, panel.left);
  const pr = Math.min(width, panel.left + panel.width);
  const pt = Math.max(0, panel.top);
  const pb = Math.min(height, panel.top + panel.height);
  const rowsPerSlice = Math.max(1, Math.floor(PIXELS_PER_SLICE / width));

  for (let y = 0; y < height; y++) {
    const r0 = Math.round((base[0]! + dy[0]! * y) * ONE) + HALF;
    const g0 = Math.round((base[1]! + dy[1]! * y) * ONE) + HALF;
    const b0 = Math.round((base[2]! + dy[2]! * y) * ONE) + HALF;
    let p = y * width * 3;
    if (y >= pt && y < pb && pl < pr) {
      p = run(data, p, 0, pl, r0, g0, b0, dx, ONE);
      p = run(data, p, pl, pr, r0, g0, b0, dx, shade);
      run(data, p, pr, width, r0, g0, b0, dx, ONE);
    } else {
      run(data, p, 0, width, r0, g0, b0, dx, ONE);
    }
    if (y % rowsPerSlice === rowsPerSlice - 1) await yieldToLoop();
  }
  return { width, height, data };
}

/** Spare frame buffers, newest last: few and small enough that keeping them costs little. */
const SPARE_BUFFERS = 2;
const SPARE_MAX_BYTES = 16 * 2 ** 20;
const spares: Buffer[] = [];

function takeBuffer(bytes: number): Buffer {
  const i = spares.findIndex((b) => b.length === bytes);
  return i >= 0 ? spares.splice(i, 1)[0]! : Buffer.allocUnsafe(bytes);
}

/** Hands the canvas's buffer back for a later frame; the canvas must not be used again. */
export function releaseCanvas(canvas: Canvas): void {
  if (canvas.data.length > SPARE_MAX_BYTES) return;
  spares.push(canvas.data);
  if (spares.length > SPARE_BUFFERS) spares.shift();
}

/** Pixels x0..x1 of one row, the gradient's values times `scale` (fixed point). */
function run(
  data: Buffer,
  p: number,
  x0: number,
  x1: number,
  r0: number,
  g0: number,
  b0: number,
  dx: number[],
  scale: number,
): number {
  const sr = dx[0]!;
  const sg = dx[1]!;
  const sb = dx[2]!;
  let r = r0 + sr * x0;
  let g = g0 + sg * x0;
  let b = b0 + sb * x0;
  if (scale === ONE) {
    for (let x = x0; x < x1; x++) {
      data[p++] = r >> 16;
      data[p++] = g >> 16;
      data[p++] = b >> 16;
      r += sr;
      g += sg;
      b += sb;
    }
    return p;
  }
  // Darkened: scale the start and the step, so the loop stays additions.
  const k = scale / ONE;
  r = Math.round((r - HALF) * k) + HALF;
  g = Math.round((g - HALF) * k) + HALF;
  b = Math.round((b - HALF) * k) + HALF;
  const kr = Math.round(sr * k);
  const kg = Math.round(sg * k);
  const kb = Math.round(sb * k);
  for (let x = x0; x < x1; x++) {
    data[p++] = r >> 16;
    data[p++] = g >> 16;
    data[p++] = b >> 16;
    r += kr;
    g += kg;
    b += kb;
  }
  return p;
}

/** Text in `colour` where the mask has ink; the mask's top-left corner at (left, top). */
export async function blendMask(
  canvas: Canvas,
  mask: TextMask,
  left: number,
  top: number,
  colour: Rgb,
): Promise<void> {
  const { width, height, data } = canvas;
  const [cr, cg, cb] = colour;
  const x0 = Math.max(0, -left);
  const x1 = Math.min(mask.width, width - left);
  const y1 = Math.min(mask.height, height - top);
  const rowsPerSlice = Math.max(1, Math.floor(PIXELS_PER_SLICE / Math.max(1, mask.width)));
  for (let y = Math.max(0, -top); y < y1; y++) {
    let m = y * mask.width + x0;
    let p = ((top + y) * width + left + x0) * 3;
    for (let x = x0; x < x1; x++, m++, p += 3) {
      const a = mask.data[m]!;
      if (a === 0) continue;
      if (a === 255) {
        data[p] = cr;
        data[p + 1] = cg;
        data[p + 2] = cb;
        continue;
      }
      const na = 255 - a;
      data[p] = ((data[p]! * na + cr * a) * 257 + 32896) >> 16; // ÷255, rounded
      data[p + 1] = ((data[p + 1]! * na + cg * a) * 257 + 32896) >> 16;
      data[p + 2] = ((data[p + 2]! * na + cb * a) * 257 + 32896) >> 16;
    }
    if (y % rowsPerSlice === rowsPerSlice - 1) await yieldToLoop();
  }
}

/** An RGBA picture over the canvas at (left, top), blended by its alpha. */
export async function blendRgba(
  canvas: Canvas,
  picture: { data: Buffer; width: number; height: number },
  left: number,
  top: number,
): Promise<void> {
  const { width, height, data } = canvas;
  const x1 = Math.min(picture.width, width - left);
  const y1 = Math.min(picture.height, height - top);
  for (let y = Math.max(0, -top); y < y1; y++) {
    let s = (y * picture.width + Math.max(0, -left)) * 4;
    let p = ((top + y) * width + left + Math.max(0, -left)) * 3;
    for (let x = Math.max(0, -left); x < x1; x++, s += 4, p += 3) {
      const a = picture.data[s + 3]!;
      const na = 255 - a;
      for (let c = 0; c < 3; c++)
        data[p + c] = ((data[p + c]! * na + picture.data[s + c]! * a) * 257 + 32896) >> 16;
    }
    if (y % 256 === 255) await yieldToLoop();
  }
}
