/**
 * The model catalogue: each model declares every rule it is validated by in one
 * place. Operators add models (extending a built-in one) and prices in configuration.
 */
import type { PromptPriority } from "./types.js";

export type ModelParamRule =
  { kind: "enum"; values: string[]; default?: string } | { kind: "tools"; allowed: string[] };

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
   * Absent: the seedream forms (api.md) within the pixel and aspect limits below.
   */
  sizePresets?: string[];
  /** What `size: auto` means in pixels (default 2048x2048, the seedream upstream's own). */
  autoSize?: [number, number];
  minPixels: number;
  maxPixels: number;
  minAspect: number;
  maxAspect: number;
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

export const BUILTIN_MODELS: ModelSpec[] = [
  {
    ...seedream,
    id: "doubao-seedream-4.0",
    qualities: ["1K", "2K", "4K"],
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
