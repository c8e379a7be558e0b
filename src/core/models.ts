/**
 * The model catalogue: each model declares every rule it is validated by in one
 * place. Operators add models (extending a built-in one) and prices in configuration.
 */
import type { PromptPriority, Quality } from "./types.js";

export type ModelParamRule =
  { kind: "enum"; values: string[]; default?: string } | { kind: "tools"; allowed: string[] };

export interface ModelSpec {
  id: string;
  ownedBy: string;
  promptMaxChars: number;
  qualities: Quality[];
  defaultQuality: Quality;
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
