/**
 * Our normalised GenerationRequest → a generateContent body, field by field. Pure.
 *
 * | ours                     | Gemini                                                           |
 * | ------------------------ | ---------------------------------------------------------------- |
 * | `prompt`                 | the last part of the one user turn: `{text}`                     |
 * | reference images         | parts before the text: `{inline_data: {mime_type, data}}`        |
 * | —                        | `generationConfig.responseModalities: ["TEXT", "IMAGE"]`         |
 * | `size` ratio             | `generationConfig.imageConfig.aspectRatio` (`16:9`)              |
 * | `size` tier (a square)   | `aspectRatio: "1:1"`                                             |
 * | `size` pixels            | the nearest of Gemini's aspect ratios (a model declared with     |
 * |                          | the pixel form in the config file)                               |
 * | `size` auto              | no aspectRatio: the model chooses (a square, or the references') |
 * | `quality` (or the tier)   | `imageConfig.imageSize` 2K / 4K; 1K is every model's default,    |
 * |                          | not sent                                                         |
 * |                          | (gemini-2.5-flash-image knows no imageSize at all)               |
 *
 * One call asks for one image: n images are n calls (index.ts).
 */
import type { GenerationRequest, SizeSpec } from "../../core/types.js";
import type { ReferenceImage } from "../contract.js";

export interface GeminiPart {
  text?: string;
  inline_data?: { mime_type: string; data: string };
}

export interface GeminiRequestBody {
  contents: Array<{ role: "user"; parts: GeminiPart[] }>;
  generationConfig: {
    responseModalities: string[];
    imageConfig?: { aspectRatio?: string; imageSize?: string };
  };
}

/** The aspect ratios generateContent takes (the image generation guide). */
export const GEMINI_RATIOS = [
  "1:1",
  "2:3",
  "3:2",
  "3:4",
  "4:3",
  "4:5",
  "5:4",
  "9:16",
  "16:9",
  "21:9",
] as const;

const value = (r: string) => {
  const [w, h] = r.split(":").map(Number) as [number, number];
  return w / h;
};

/** The Gemini aspect ratio closest to w:h (on a log scale, so 2:1 and 1:2 are alike). */
export function nearestRatio(width: number, height: number): string {
  const target = Math.log(width / height);
  let best: string = GEMINI_RATIOS[0];
  for (const r of GEMINI_RATIOS)
    if (Math.abs(Math.log(value(r)) - target) < Math.abs(Math.log(value(best)) - target)) best = r;
  return best;
}

export function aspectRatioOf(size: SizeSpec): string | undefined {
  switch (size.kind) {
    case "auto":
      return undefined;
    case "ratio":
      return size.ratio;
    case "tier":
      return "1:1";
    case "pixels":
      return nearestRatio(size.width, size.height);
  }
}

const IMAGE_SIZES = new Set(["2K", "4K"]);

export function buildGeminiBody(req: GenerationRequest, refs: ReferenceImage[]): GeminiRequestBody {
  const parts: GeminiPart[] = refs.map((r) => ({
    inline_data: { mime_type: r.contentType, data: r.data.toString("base64") },
  }));
  parts.push({ text: req.prompt });
  const imageConfig: { aspectRatio?: string; imageSize?: string } = {};
  const aspectRatio = aspectRatioOf(req.size);
  if (aspectRatio) imageConfig.aspectRatio = aspectRatio;
  // A tier alone (`4K`) is its own size class, whatever the quality in force.
  const sizeClass = req.size.kind === "tier" ? req.size.tier : req.quality;
  if (IMAGE_SIZES.has(sizeClass)) imageConfig.imageSize = sizeClass;
  return {
    contents: [{ role: "user", parts }],
    generationConfig: {
      responseModalities: ["TEXT", "IMAGE"],
      ...(Object.keys(imageConfig).length > 0 ? { imageConfig } : {}),
    },
  };
}
