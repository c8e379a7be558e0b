/**
 * Renders the sandbox's placeholder images: exactly the requested size, labelled
 * SANDBOX with the prompt on it, deterministic for (prompt, index, size, model).
 *
 * Everything heavy runs inside sharp (libvips on the libuv thread pool): a tiny SVG
 * gradient rasterised small then scaled up for the background, Pango text layers
 * rendered with a font shipped in node_modules (no dependence on system fonts), JPEG
 * (or PNG/WebP when the request asks) encoding. The event loop only builds a few
 * strings, so a 4K render never blocks polls.
 *
 * Memory: a 16384x1024 frame is 64 MB of RGBA in flight, so renders in one process are
 * bounded (RENDERS_AT_ONCE) however many tasks the runner works on at once.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import sharp, { type OverlayOptions } from "sharp";
import { Semaphore } from "../../core/semaphore.js";
import { escapeMarkup, drawableText, shownText } from "./label-text.js";

const require = createRequire(import.meta.url);
const FONT_DIR = path.join(path.dirname(require.resolve("dejavu-fonts-ttf/package.json")), "ttf");
const FONT_BOLD = path.join(FONT_DIR, "DejaVuSans-Bold.ttf");
const FONT_REGULAR = path.join(FONT_DIR, "DejaVuSans.ttf");
const PROMPT_SHOWN_MAX = 280;
/** Sandbox renders running at once in this process; more wait their turn. */
export const RENDERS_AT_ONCE = 2;
const renderSlots = new Semaphore(RENDERS_AT_ONCE);
/** Renders running and waiting now (for tests and diagnostics). */
export const sandboxRenders = {
  get active(): number {
    return renderSlots.active;
  },
  get waiting(): number {
    return renderSlots.waiting;
  },
};

export type SandboxFormat = "jpeg" | "png" | "webp";

export const SANDBOX_CONTENT_TYPES: Record<SandboxFormat, string> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
};

const WEBP_MAX_SIDE = 16383;

/**
 * The encoding a request's `model_params.output_format` asks for; JPEG otherwise.
 * WebP cannot hold a side over 16383 pixels: such a size gets PNG instead.
 */
export function sandboxFormat(outputFormat: unknown, width: number, height: number): SandboxFormat {
  if (outputFormat === "webp") return Math.max(width, height) > WEBP_MAX_SIDE ? "png" : "webp";
  return outputFormat === "png" ? "png" : "jpeg";
}

export interface RenderInput {
  prompt: string;
  index: number;
  total: number;
  width: number;
  height: number;
  model: string;
  references?: Array<{ data: Buffer; width: number; height: number }>;
  /** Default jpeg. */
  format?: SandboxFormat;
  /** Aborts waiting for a render slot (a render once started runs to its end). */
  signal?: AbortSignal;
}

function palette(prompt: string, index: number): [string, string, number] {
  const h = createHash("sha256").update(`${prompt}\u0000${index}`).digest();
  const hue = (h[0]! * 360) / 256;
  const colour = (hh: number, l: number) => `hsl(${Math.round(hh % 360)}, 55%, ${l}%)`;
  return [colour(hue, 38), colour(hue + 40 + (h[1]! % 80), 22), h[2]! % 360];
}

async function textLayer(
  markup: string,
  fontfile: string,
  font: string,
  width: number,
  height: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    return await drawText(markup, fontfile, font, width, height);
  } catch (err) {
    // Text with no ink at all (spaces, zero-width characters): libvips refuses to
    // render it. The layer is then simply empty.
    if (err instanceof Error && /no text to render/.test(err.message)) return emptyLayer();
    throw err;
  }
}

async function emptyLayer(): Promise<{ data: Buffer; width: number; height: number }> {
  const data = await sharp({
    create: { width: 1, height: 1, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
  })
    .png()
    .toBuffer();
  return { data, width: 1, height: 1 };
}

async function drawText(
  markup: string,
  fontfile: string,
  font: string,
  width: number,
  height: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp({
    text: {
      text: markup,
      font,
      fontfile,
      width,
      height,
      rgba: true,
      align: "centre",
      wrap: "word-char",
    },
  })
    .png()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export async function renderSandboxImage(input: RenderInput): Promise<Buffer> {
  return renderSlots.run(() => render(input), input.signal);
}

async function render(input: RenderInput): Promise<Buffer> {
  const { width: W, height: H } = input;
  const short = Math.min(W, H);
  const [from, to, angle] = palette(input.prompt, input.index);
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">
      <defs><linearGradient id="g" gradientTransform="rotate(${angle} .5 .5)">
        <stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>
      <rect width="64" height="64" fill="url(#g)"/></svg>`,
  );
  // Rasterised at 64x64 first: resizing the SVG itself would make sharp re-render the
  // vector at the target scale (for 16384x1024 "fill", a 16384² canvas, 1 GB in one go).
  const small = await sharp(svg).raw().toBuffer({ resolveWithObject: true });

  const shown = shownText(input.prompt, PROMPT_SHOWN_MAX);
  const panelW = Math.round(W * 0.86);
  const pad = Math.round(short * 0.04);
  const labelH = Math.max(12, Math.round(short * 0.09));
  const promptH = Math.max(12, Math.round(H * 0.3));
  const footH = Math.max(8, Math.round(short * 0.035));

  const [label, prompt, foot] = await Promise.all([
    textLayer(
      `<span foreground="#ffffff">SANDBOX</span>`,
      FONT_BOLD,
      "DejaVu Sans Bold",
      panelW - 2 * pad,
      labelH,
    ),
    textLayer(
      `<span foreground="#f2f2f2">${escapeMarkup(shown)}</span>`,
      FONT_REGULAR,
      "DejaVu Sans",
      panelW - 2 * pad,
      promptH,
    ),
    textLayer(
      `<span foreground="#d0d0d0">placeholder image ${input.index + 1} of ${input.total} · ${W}x${H} · ${escapeMarkup(drawableText(input.model))}</span>`,
      FONT_REGULAR,
      "DejaVu Sans",
      panelW - 2 * pad,
      footH,
    ),
  ]);

  const panelH = Math.min(H - 2, label.height + prompt.height + foot.height + 4 * pad);
  const panelTop = Math.max(0, Math.round((H - panelH) / 2));
  const panelLeft = Math.round((W - panelW) / 2);
  const panel = await sharp({
    create: {
      width: panelW,
      height: panelH,
      channels: 4,
      background: { r: 0, g: 0, b: 0, alpha: 0.45 },
    },
  })
    .png()
    .toBuffer();

  const centred = (w: number) => Math.max(0, Math.round((W - w) / 2));
  const layers: OverlayOptions[] = [
    { input: panel, left: panelLeft, top: panelTop },
    { input: label.data, left: centred(label.width), top: panelTop + pad },
    { input: prompt.data, left: centred(prompt.width), top: panelTop + 2 * pad + label.height },
    {
      input: foot.data,
      left: centred(foot.width),
      top: Math.min(H - foot.height, panelTop + 3 * pad + label.height + prompt.height),
    },
  ];

  // Reference images as a thumbnail strip along the bottom: proof they reached the provider.
  const refs = input.references ?? [];
  if (refs.length > 0) {
    const thumbH = Math.max(8, Math.round(H * 0.12));
    let left = pad;
    for (const ref of refs) {
      const thumbW = Math.max(8, Math.round((thumbH * ref.width) / ref.height));
      if (left + thumbW > W - pad) break;
      const thumb = await sharp(ref.data).resize(thumbW, thumbH, { fit: "fill" }).png().toBuffer();
      layers.push({ input: thumb, left, top: H - thumbH - pad });
      left += thumbW + Math.round(pad / 2);
    }
  }

  const { width: sw, height: sh, channels } = small.info;
  const image = sharp(small.data, { raw: { width: sw, height: sh, channels } })
    .resize(W, H, { fit: "fill", kernel: "cubic" })
    .composite(layers);
  if (input.format === "png") return image.png({ compressionLevel: 6 }).toBuffer();
  if (input.format === "webp") return image.webp({ quality: 85 }).toBuffer();
  return image.jpeg({ quality: 85, mozjpeg: false }).toBuffer();
}
