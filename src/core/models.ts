/**
 * The model catalogue: each model declares every rule it is validated by, as plain
 * data (no functions), in one place. The built-in models are the table below; an
 * operator declares more, or changes these, in the DARKROOM_CONFIG file in the same
 * terms (config/model-file.ts), checked at start by model-rules.ts and published by
 * GET /v1/models. validate.ts and size.ts read nothing but this data.
 *
 * Where each built-in model's numbers come from: docs/models.md.
 */
import { seedreamRatioSizes } from "./size.js";
import type { PromptPriority } from "./types.js";

export type ModelParamRule =
  | { kind: "enum"; values: string[]; default?: string }
  | { kind: "tools"; allowed: string[] }
  | { kind: "integer"; min: number; max: number; default?: number }
  | { kind: "number"; min: number; max: number; default?: number }
  | { kind: "boolean"; default?: boolean };

/** The forms `size` may take (api.md): `auto`, a ratio with `quality`, a tier alone, `WxH`. */
export type SizeForm = "auto" | "ratio" | "tier" | "pixels";
export const SIZE_FORMS: readonly SizeForm[] = ["auto", "ratio", "tier", "pixels"];

export interface ModelSpec {
  id: string;
  ownedBy: string;
  promptMaxChars: number;
  /**
   * The `quality` values the model accepts. Pixel tiers (1K..4K) set the pixel budget
   * of the ratio form of `size`; any other value is the model's own (an OpenAI-style
   * model's low/medium/high/auto) and travels to the upstream as it is.
   */
  qualities: string[];
  defaultQuality: string;
  /**
   * A model with a fixed list of sizes (OpenAI style) declares them here: `size` must
   * then be `auto` or one of these `WxH`, and ratios, tiers and free pixels are refused.
   * Absent: the forms of `sizeForms` within the pixel and aspect limits below.
   */
  sizePresets?: string[];
  /** Which forms of `size` the model takes; absent: all four. */
  sizeForms?: SizeForm[];
  /**
   * The ratio form's pixels: ratio → quality tier → [width, height]. Its keys are the
   * ratios the model takes. Absent: api.md's seedream table (every ratio of RATIOS).
   */
  ratioSizes?: Record<string, Record<string, [number, number]>>;
  /** What `size: auto` means in pixels (default 2048x2048, the seedream upstream's own). */
  autoSize?: [number, number];
  minPixels: number;
  maxPixels: number;
  minAspect: number;
  maxAspect: number;
  /** `WxH`: both sides a multiple of this (gpt-image-2: 16); absent: any. */
  sideMultiple?: number;
  /** `WxH`: the longest side at most this many pixels; absent: only the pixel bounds. */
  maxSide?: number;
  /** `WxH`: the shortest side at least this many pixels; absent: only the pixel bounds. */
  minSide?: number;
  promptPriorities: PromptPriority[];
  maxReferenceImages: number;
  maxReferenceBytes: number;
  /** n + reference images may not exceed this. */
  maxTotalImages: number;
  maxN: number;
  priceMicros: number;
  defaultEstimatedSeconds: number;
  modelParams: Record<string, ModelParamRule>;
}

const seedream = {
  ownedBy: "bytedance",
  promptMaxChars: 2000,
  minAspect: 1 / 16,
  maxAspect: 16,
  maxPixels: 16_777_216,
  maxReferenceImages: 14,
  maxReferenceBytes: 10 * 1024 * 1024,
  maxTotalImages: 15,
  maxN: 15,
};

/**
 * What the Gemini image models share: the ratio form (and a tier alone, a square) only,
 * since generateContent takes an aspect ratio and a size class, never pixels; `auto`
 * lets the model choose (a square, or the first reference image's shape).
 */
const gemini = {
  ownedBy: "google",
  sizeForms: ["auto", "ratio", "tier"] as SizeForm[],
  autoSize: [1024, 1024] as [number, number],
  promptPriorities: ["standard"] as PromptPriority[],
  // Inline images: the whole request must stay under 20 MB.
  maxReferenceBytes: 7 * 1024 * 1024,
  modelParams: {},
};

export const BUILTIN_MODELS: ModelSpec[] = [
  {
    ...seedream,
    id: "doubao-seedream-4.0",
    qualities: ["1K", "2K", "4K"],
    ratioSizes: seedreamRatioSizes(["1K", "2K", "4K"]),
    defaultQuality: "2K",
    minPixels: 921_600,
    promptPriorities: ["standard", "fast"],
    priceMicros: 1_800_000,
    defaultEstimatedSeconds: 45,
    modelParams: {},
  },
  {
    ...seedream,
    id: "doubao-seedream-4.5",
    qualities: ["2K", "4K"],
    ratioSizes: seedreamRatioSizes(["2K", "4K"]),
    defaultQuality: "2K",
    minPixels: 3_686_400,
    promptPriorities: ["standard"],
    priceMicros: 2_500_000,
    defaultEstimatedSeconds: 60,
    modelParams: {},
  },
  {
    ...seedream,
    id: "doubao-seedream-5.0-lite",
    qualities: ["2K", "3K", "4K"],
    ratioSizes: seedreamRatioSizes(["2K", "3K", "4K"]),
    defaultQuality: "2K",
    minPixels: 3_686_400,
    promptPriorities: ["standard"],
    priceMicros: 2_000_000,
    defaultEstimatedSeconds: 60,
    modelParams: {
      output_format: { kind: "enum", values: ["png", "jpeg"], default: "jpeg" },
      tools: { kind: "tools", allowed: ["web_search"] },
    },
  },
  {
    // OpenAI's GPT image model (src/providers/openai). Limits from OpenAI's Images API
    // reference: prompt ≤ 32000 characters, n 1..10, three sizes or auto, its own
    // quality values, up to 16 reference images (edits) of < 50 MB each.
    id: "gpt-image-1",
    ownedBy: "openai",
    promptMaxChars: 32_000,
    qualities: ["low", "medium", "high", "auto"],
    defaultQuality: "auto",
    sizePresets: ["1024x1024", "1536x1024", "1024x1536"],
    sizeForms: ["auto", "pixels"],
    autoSize: [1024, 1024],
    minPixels: 1024 * 1024,
    maxPixels: 1536 * 1024,
    minAspect: 2 / 3,
    maxAspect: 3 / 2,
    promptPriorities: ["standard"],
    maxReferenceImages: 16,
    maxReferenceBytes: 50 * 1024 * 1024,
    maxTotalImages: 26,
    maxN: 10,
    priceMicros: 4_000_000,
    defaultEstimatedSeconds: 40,
    modelParams: {
      output_format: { kind: "enum", values: ["png", "jpeg", "webp"], default: "png" },
      background: { kind: "enum", values: ["transparent", "opaque", "auto"] },
    },
  },
  {
    // OpenAI's gpt-image-2 (src/providers/openai): any WxH with both sides multiples of
    // 16, the longest at most 3840, long/short at most 3:1, 655,360..8,294,400 pixels;
    // otherwise gpt-image-1's limits. No transparent background.
    id: "gpt-image-2",
    ownedBy: "openai",
    promptMaxChars: 32_000,
    qualities: ["low", "medium", "high", "auto"],
    defaultQuality: "auto",
    sizeForms: ["auto", "pixels"],
    autoSize: [1024, 1024],
    minPixels: 655_360,
    maxPixels: 8_294_400,
    minAspect: 1 / 3,
    maxAspect: 3,
    sideMultiple: 16,
    maxSide: 3840,
    promptPriorities: ["standard"],
    maxReferenceImages: 16,
    maxReferenceBytes: 50 * 1024 * 1024,
    maxTotalImages: 26,
    maxN: 10,
    priceMicros: 5_000_000,
    defaultEstimatedSeconds: 60,
    modelParams: {
      output_format: { kind: "enum", values: ["png", "jpeg", "webp"], default: "png" },
      output_compression: { kind: "integer", min: 0, max: 100 },
      background: { kind: "enum", values: ["opaque", "auto"] },
      moderation: { kind: "enum", values: ["auto", "low"] },
    },
  },
  {
    // Google's Gemini 2.5 Flash Image (src/providers/gemini): one size per aspect
    // ratio, about a megapixel; up to 3 reference images work best.
    ...gemini,
    id: "gemini-2.5-flash-image",
    promptMaxChars: 32_000,
    qualities: ["1K"],
    defaultQuality: "1K",
    ratioSizes: {
      "1:1": { "1K": [1024, 1024] },
      "2:3": { "1K": [832, 1248] },
      "3:2": { "1K": [1248, 832] },
      "3:4": { "1K": [864, 1184] },
      "4:3": { "1K": [1184, 864] },
      "4:5": { "1K": [896, 1152] },
      "5:4": { "1K": [1152, 896] },
      "9:16": { "1K": [768, 1344] },
      "16:9": { "1K": [1344, 768] },
      "21:9": { "1K": [1536, 672] },
    },
    minPixels: 1_000_000,
    maxPixels: 1_100_000,
    minAspect: 672 / 1536,
    maxAspect: 1536 / 672,
    maxReferenceImages: 3,
    maxTotalImages: 7,
    maxN: 4,
    priceMicros: 2_000_000,
    defaultEstimatedSeconds: 15,
  },
  {
    // Gemini 3 Pro Image: 1K, 2K or 4K per aspect ratio; up to 14 reference images.
    ...gemini,
    id: "gemini-3-pro-image-preview",
    promptMaxChars: 64_000,
    qualities: ["1K", "2K", "4K"],
    defaultQuality: "1K",
    ratioSizes: {
      "1:1": { "1K": [1024, 1024], "2K": [2048, 2048], "4K": [4096, 4096] },
      "2:3": { "1K": [848, 1264], "2K": [1696, 2528], "4K": [3392, 5056] },
      "3:2": { "1K": [1264, 848], "2K": [2528, 1696], "4K": [5056, 3392] },
      "3:4": { "1K": [896, 1200], "2K": [1792, 2400], "4K": [3584, 4800] },
      "4:3": { "1K": [1200, 896], "2K": [2400, 1792], "4K": [4800, 3584] },
      "4:5": { "1K": [928, 1152], "2K": [1856, 2304], "4K": [3712, 4608] },
      "5:4": { "1K": [1152, 928], "2K": [2304, 1856], "4K": [4608, 3712] },
      "9:16": { "1K": [768, 1376], "2K": [1536, 2752], "4K": [3072, 5504] },
      "16:9": { "1K": [1376, 768], "2K": [2752, 1536], "4K": [5504, 3072] },
      "21:9": { "1K": [1584, 672], "2K": [3168, 1344], "4K": [6336, 2688] },
    },
    minPixels: 1_000_000,
    maxPixels: 3584 * 4800, // the largest entry of the table (3:4 at 4K)
    minAspect: 672 / 1584,
    maxAspect: 1584 / 672,
    maxReferenceImages: 14,
    maxTotalImages: 18,
    maxN: 4,
    priceMicros: 8_000_000,
    defaultEstimatedSeconds: 30,
  },
];

export class ModelCatalogue {
  private readonly byId: Map<string, ModelSpec>;

  constructor(models: ModelSpec[]) {
    this.byId = new Map(models.map((m) => [m.id, { ...m }]));
  }

  get(id: string): ModelSpec | undefined {
    return this.byId.get(id);
  }

  list(): ModelSpec[] {
    return [...this.byId.values()];
  }
}
