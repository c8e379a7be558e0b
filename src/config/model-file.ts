/**
 * The `models` section of the DARKROOM_CONFIG file: each entry changes a built-in
 * model (same `id`), declares a new one from a built-in (`extends`), or declares one
 * from nothing, with the model's rules in the terms GET /v1/models shows them
 * (core/model-rules.ts). Checked at start; a problem stops the start with a message
 * naming the entry and the field: `config: models[2] ("my-model").max_pixels: ...`.
 *
 *   { "id": "my-flux", "owned_by": "me", "price": "1.5", "prompt_max_chars": 2000,
 *     "qualities": ["1K", "2K"], "min_pixels": 262144, "max_pixels": 4194304,
 *     "size_forms": ["auto", "ratio", "pixels"], "side_multiple": 16,
 *     "model_params": { "steps": { "type": "integer", "min": 1, "max": 50, "default": 28 } } }
 */
import { z } from "zod";
import { type ModelSpec, SIZE_FORMS } from "../core/models.js";
import { modelRuleProblems, paramFromJson, type ModelParamJson } from "../core/model-rules.js";
import { parseCredits } from "../core/money.js";
import type { PromptPriority } from "../core/types.js";

const WXH = /^([1-9]\d{0,5})x([1-9]\d{0,5})$/;
const wxh = z
  .string()
  .regex(WXH, "must be WxH, e.g. 1024x1024")
  .transform((s): [number, number] => {
    const m = WXH.exec(s)!;
    return [Number(m[1]), Number(m[2])];
  });
const count = (max: number) => z.number().int().min(0).max(max);
const positive = (max: number) => z.number().int().min(1).max(max);

const paramSchema = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("enum"),
      values: z.array(z.string().min(1).max(200)).min(1).max(200),
      default: z.string().optional(),
    })
    .strict(),
  z
    .object({ type: z.literal("tools"), allowed: z.array(z.string().min(1).max(100)).min(1) })
    .strict(),
  z
    .object({
      type: z.literal("integer"),
      min: z.number().int(),
      max: z.number().int(),
      default: z.number().optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal("number"),
      min: z.number(),
      max: z.number(),
      default: z.number().optional(),
    })
    .strict(),
  z.object({ type: z.literal("boolean"), default: z.boolean().optional() }).strict(),
]);

export const fileModelSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/, "must be 1-200 letters, digits and . _ : -"),
    /** Start from a built-in model's rules; unspecified fields are inherited. */
    extends: z.string().optional(),
    price: z.union([z.string(), z.number()]).optional(),
    owned_by: z.string().min(1).max(100).optional(),
    estimated_seconds: z.number().int().positive().max(86_400).optional(),
    prompt_max_chars: positive(10_000_000).optional(),
    qualities: z.array(z.string().min(1).max(50)).min(1).max(50).optional(),
    default_quality: z.string().optional(),
    size_forms: z
      .array(z.enum(SIZE_FORMS as [string, ...string[]]))
      .min(1)
      .optional(),
    size_presets: z.array(z.string().regex(WXH, "must be WxH, e.g. 1024x1024")).min(1).optional(),
    ratio_sizes: z
      .record(
        z.string().regex(/^[1-9]\d*:[1-9]\d*$/, "a ratio is written like 16:9"),
        z.record(wxh),
      )
      .optional(),
    auto_size: wxh.optional(),
    min_pixels: positive(1_000_000_000).optional(),
    max_pixels: positive(1_000_000_000).optional(),
    min_aspect: z.number().positive().max(1000).optional(),
    max_aspect: z.number().positive().max(1000).optional(),
    side_multiple: positive(4096).optional(),
    max_side: positive(1_000_000).optional(),
    min_side: positive(1_000_000).optional(),
    prompt_priorities: z
      .array(z.enum(["standard", "fast"]))
      .min(1)
      .optional(),
    max_reference_images: count(1000).optional(),
    max_reference_bytes: positive(1024 * 1024 * 1024).optional(),
    max_total_images: positive(1000).optional(),
    max_n: positive(1000).optional(),
    model_params: z.record(paramSchema).optional(),
  })
  .strict();

export type FileModel = z.infer<typeof fileModelSchema>;

/** Fields a model declared from nothing must give: nothing sensible to assume for them. */
const REQUIRED_FROM_NOTHING = [
  "price",
  "prompt_max_chars",
  "qualities",
  "min_pixels",
  "max_pixels",
] as const;

/**
 * The built-in models changed and extended by the file's entries, in order; throws
 * `fail(message)` on the first problem.
 */
export function loadModels(
  builtins: readonly ModelSpec[],
  entries: readonly FileModel[],
  fail: (message: string) => Error,
): ModelSpec[] {
  const byId = new Map(builtins.map((m) => [m.id, { ...m }]));
  entries.forEach((m, i) => {
    const label = `config: models[${i}] ("${m.id}")`;
    let base: ModelSpec | undefined;
    if (m.extends !== undefined) {
      base = byId.get(m.extends);
      if (!base)
        throw fail(
          `${label}.extends: no model "${m.extends}" (one of ${[...byId.keys()].join(", ")})`,
        );
    } else {
      base = byId.get(m.id);
    }
    if (!base) {
      const missing = REQUIRED_FROM_NOTHING.filter((k) => m[k] === undefined);
      if (missing.length > 0)
        throw fail(
          `${label}: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} required for a model that extends no other`,
        );
    }
    const next = withFileFields(base ?? fromNothing(m.id), m, (field, why) =>
      fail(`${label}.${field}: ${why}`),
    );
    const problem = modelRuleProblems(next)[0];
    if (problem) throw fail(`${label}.${problem.path}: ${problem.message}`);
    byId.set(m.id, next);
  });
  return [...byId.values()];
}

/** The starting point of a model that extends nothing; the required fields fill the rest. */
function fromNothing(id: string): ModelSpec {
  return {
    id,
    ownedBy: "darkroom",
    promptMaxChars: 0,
    qualities: [],
    defaultQuality: "",
    minPixels: 0,
    maxPixels: 0,
    minAspect: 1 / 16,
    maxAspect: 16,
    promptPriorities: ["standard"],
    maxReferenceImages: 0,
    maxReferenceBytes: 10 * 1024 * 1024,
    maxTotalImages: 1,
    maxN: 1,
    priceMicros: 0,
    defaultEstimatedSeconds: 45,
    modelParams: {},
  };
}

function withFileFields(
  base: ModelSpec,
  m: FileModel,
  fail: (field: string, why: string) => Error,
): ModelSpec {
  const next: ModelSpec = { ...base, id: m.id };
  if (m.price !== undefined) {
    const micros = parseCredits(m.price);
    if (micros === null) throw fail("price", "must be a non-negative decimal number of credits");
    next.priceMicros = micros;
  }
  if (m.owned_by !== undefined) next.ownedBy = m.owned_by;
  if (m.estimated_seconds !== undefined) next.defaultEstimatedSeconds = m.estimated_seconds;
  if (m.prompt_max_chars !== undefined) next.promptMaxChars = m.prompt_max_chars;
  if (m.qualities !== undefined) {
    next.qualities = m.qualities;
    // A new quality list without a default: its first value.
    if (m.default_quality === undefined && !m.qualities.includes(next.defaultQuality))
      next.defaultQuality = m.qualities[0]!;
  }
  if (m.default_quality !== undefined) next.defaultQuality = m.default_quality;
  if (m.size_forms !== undefined) {
    next.sizeForms = m.size_forms as ModelSpec["sizeForms"];
    if (m.size_presets === undefined) delete next.sizePresets;
  }
  if (m.size_presets !== undefined) next.sizePresets = m.size_presets;
  if (m.ratio_sizes !== undefined) next.ratioSizes = m.ratio_sizes;
  else if (m.qualities !== undefined && next.ratioSizes)
    // Narrowed qualities narrow the inherited ratio table with them.
    next.ratioSizes = Object.fromEntries(
      Object.entries(next.ratioSizes).map(([r, row]) => [
        r,
        Object.fromEntries(Object.entries(row).filter(([q]) => m.qualities!.includes(q))),
      ]),
    );
  if (m.auto_size !== undefined) next.autoSize = m.auto_size;
  if (m.min_pixels !== undefined) next.minPixels = m.min_pixels;
  if (m.max_pixels !== undefined) next.maxPixels = m.max_pixels;
  if (m.min_aspect !== undefined) next.minAspect = m.min_aspect;
  if (m.max_aspect !== undefined) next.maxAspect = m.max_aspect;
  if (m.side_multiple !== undefined) next.sideMultiple = m.side_multiple;
  if (m.max_side !== undefined) next.maxSide = m.max_side;
  if (m.min_side !== undefined) next.minSide = m.min_side;
  if (m.prompt_priorities !== undefined)
    next.promptPriorities = m.prompt_priorities as PromptPriority[];
  if (m.max_reference_images !== undefined) next.maxReferenceImages = m.max_reference_images;
  if (m.max_reference_bytes !== undefined) next.maxReferenceBytes = m.max_reference_bytes;
  if (m.max_n !== undefined) next.maxN = m.max_n;
  if (m.max_total_images !== undefined) next.maxTotalImages = m.max_total_images;
  else if (m.max_n !== undefined || m.max_reference_images !== undefined)
    // Unless told otherwise, n and the reference images may be at their maxima together.
    next.maxTotalImages = Math.max(next.maxTotalImages, next.maxN + next.maxReferenceImages);
  if (m.model_params !== undefined)
    next.modelParams = Object.fromEntries(
      Object.entries(m.model_params).map(([k, p]) => [k, paramFromJson(p as ModelParamJson)]),
    );
  return next;
}
