/**
 * Renders the sandbox's placeholder images: exactly the requested size, labelled
 * SANDBOX with the prompt on it, deterministic for (prompt, index, size, model).
 *
 * Cost is what a load test against the sandbox pays per task, so each step does the
 * least it can: the three texts are Pango coverage masks at their final size (fonts
 * from node_modules, any script and emoji: fonts.ts), fitted with one measuring render
 * instead of libvips' repeated autofit, and cached (text-mask.ts); the gradient, the
 * panel and the text are written into one raw RGB buffer by integer loops that yield
 * to the event loop (canvas.ts); libvips encodes that buffer once, on its own threads.
 *
 * Memory: a 16384x1024 frame is 48 MB of RGB in flight, so renders in one process are
 * bounded (RENDERS_AT_ONCE) however many tasks the runner works on at once.
 */
import { createHash } from "node:crypto";
import sharp from "sharp";
import { Semaphore } from "../../core/semaphore.js";
import {
  blendMask,
  blendRgba,
  paintBackground,
  releaseCanvas,
  type Canvas,
  type Rgb,
} from "./canvas.js";
import { FAMILIES_BOLD } from "./fonts.js";
import { escapeMarkup, drawableText, shownText } from "./label-text.js";
import { fitTextMask, type TextMask } from "./text-mask.js";

const PROMPT_SHOWN_MAX = 280;
/** What the panel leaves of the gradient behind it (black at 45 % opacity). */
const PANEL_SHADE = 0.55;
const LABEL_COLOUR: Rgb = [255, 255, 255];
const PROMPT_COLOUR: Rgb = [0xf2, 0xf2, 0xf2];
const FOOT_COLOUR: Rgb = [0xd0, 0xd0, 0xd0];
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

/** Two colours and an angle, from the prompt and index. */
function palette(prompt: string, index: number): [Rgb, Rgb, number] {
  const h = createHash("sha256").update(`${prompt}\u0000${index}`).digest();
  const hue = (h[0]! * 360) / 256;
  return [hsl(hue, 0.55, 0.38), hsl(hue + 40 + (h[1]! % 80), 0.55, 0.22), h[2]! % 360];
}

/** CSS hsl() to RGB, 0..255 (not rounded: the gradient rounds per pixel). */
function hsl(hueDeg: number, s: number, l: number): Rgb {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + (hueDeg % 360) / 30) % 12;
    return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}

export async function renderSandboxImage(input: RenderInput): Promise<Buffer> {
  return renderSlots.run(() => render(input), input.signal);
}

async function render(input: RenderInput): Promise<Buffer> {
  const { width: W, height: H } = input;
  const short = Math.min(W, H);
  const [from, to, angle] = palette(input.prompt, input.index);

  const shown = shownText(input.prompt, PROMPT_SHOWN_MAX);
  const panelW = Math.round(W * 0.86);
  const pad = Math.round(short * 0.04);
  const textW = Math.max(1, panelW - 2 * pad);
  const labelH = Math.max(12, Math.round(short * 0.09));
  const promptH = Math.max(12, Math.round(H * 0.3));
  const footH = Math.max(8, Math.round(short * 0.035));

  const [label, prompt, foot] = await Promise.all([
    fitTextMask({ markup: "SANDBOX", families: FAMILIES_BOLD, width: textW, height: labelH }),
    fitTextMask({ markup: escapeMarkup(shown), width: textW, height: promptH }),
    fitTextMask({
      markup: `placeholder image ${input.index + 1} of ${input.total} · ${W}x${H} · ${escapeMarkup(drawableText(input.model))}`,
      width: textW,
      height: footH,
    }),
  ]);

  const panelH = Math.min(H - 2, label.height + prompt.height + foot.height + 4 * pad);
  const panelTop = Math.max(0, Math.round((H - panelH) / 2));
  const panelLeft = Math.round((W - panelW) / 2);
  const canvas = await paintBackground(
    W,
    H,
    from,
    to,
    angle,
    { left: panelLeft, top: panelTop, width: panelW, height: panelH },
    PANEL_SHADE,
  );
  try {
    await drawOnto(canvas, input, { label, prompt, foot }, panelTop, pad);
    const image = sharp(canvas.data, { raw: { width: W, height: H, channels: 3 } });
    if (input.format === "png") return await image.png({ compressionLevel: 6 }).toBuffer();
    if (input.format === "webp") return await image.webp({ quality: 85 }).toBuffer();
    // Standard Huffman tables: optimising them took two thirds of the encoding time
    // for files ~20 % smaller. The pixels are the same.
    return await image.jpeg({ quality: 85, mozjpeg: false, optimiseCoding: false }).toBuffer();
  } finally {
    // Only once libvips is done reading it.
    releaseCanvas(canvas);
  }
}

/** The texts and reference thumbnails, over the background. */
async function drawOnto(
  canvas: Canvas,
  input: RenderInput,
  { label, prompt, foot }: Record<"label" | "prompt" | "foot", TextMask>,
  panelTop: number,
  pad: number,
): Promise<void> {
  const { width: W, height: H } = input;
  const centred = (w: number) => Math.max(0, Math.round((W - w) / 2));
  await blendMask(canvas, label, centred(label.width), panelTop + pad, LABEL_COLOUR);
  await blendMask(
    canvas,
    prompt,
    centred(prompt.width),
    panelTop + 2 * pad + label.height,
    PROMPT_COLOUR,
  );
  await blendMask(
    canvas,
    foot,
    centred(foot.width),
    Math.min(H - foot.height, panelTop + 3 * pad + label.height + prompt.height),
    FOOT_COLOUR,
  );

  // Reference images as a thumbnail strip along the bottom: proof they reached the provider.
  const refs = input.references ?? [];
  if (refs.length > 0) {
    const thumbH = Math.max(8, Math.round(H * 0.12));
    let left = pad;
    for (const ref of refs) {
      const thumbW = Math.max(8, Math.round((thumbH * ref.width) / ref.height));
      if (left + thumbW > W - pad) break;
      const { data, info } = await sharp(ref.data)
        .resize(thumbW, thumbH, { fit: "fill" })
        .toColourspace("srgb")
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      await blendRgba(
        canvas,
        { data, width: info.width, height: info.height },
        left,
        H - thumbH - pad,
      );
      left += thumbW + Math.round(pad / 2);
    }
  }
}
