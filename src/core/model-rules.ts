/**
 * A model's rules as one JSON shape (snake_case): the shape an operator writes in the
 * DARKROOM_CONFIG file's `models`, and the `rules` GET /v1/models publishes. Plus the
 * consistency check every model passes at start, built-in or declared: bounds in
 * order, defaults among their values, every listed size inside the model's own
 * limits. Pure.
 */
import type { ModelParamRule, ModelSpec, SizeForm } from "./models.js";
import { SIZE_FORMS } from "./models.js";

export type ModelParamJson =
  | { type: "enum"; values: string[]; default?: string }
  | { type: "tools"; allowed: string[] }
  | { type: "integer"; min: number; max: number; default?: number }
  | { type: "number"; min: number; max: number; default?: number }
  | { type: "boolean"; default?: boolean };

/** A model's rules in the config file's and the API's terms. */
export interface ModelRulesJson {
  prompt_max_chars: number;
  qualities: string[];
  default_quality: string;
  size_forms: SizeForm[];
  size_presets?: string[];
  /** ratio → quality tier → "WxH". */
  ratio_sizes?: Record<string, Record<string, string>>;
  auto_size: string;
  min_pixels: number;
  max_pixels: number;
  min_aspect: number;
  max_aspect: number;
  side_multiple?: number;
  max_side?: number;
  min_side?: number;
  prompt_priorities: string[];
  max_reference_images: number;
  max_reference_bytes: number;
  max_total_images: number;
  max_n: number;
  model_params: Record<string, ModelParamJson>;
}

const wxh = ([w, h]: [number, number]) => `${w}x${h}`;

const WXH_PATTERN = "^[1-9]\\d*x[1-9]\\d*$";
const strings = { type: "array", items: { type: "string" } } as const;
const exact = (properties: Record<string, unknown>, optional: string[] = []) => ({
  type: "object",
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  additionalProperties: false,
});

/**
 * ModelRulesJson as JSON Schema: the `rules` of GET /v1/models in the OpenAPI document.
 * Exact (no other field), so a field added above and not here fails the OpenAPI test.
 */
export const modelRulesSchema = exact(
  {
    prompt_max_chars: { type: "integer" },
    qualities: strings,
    default_quality: { type: "string" },
    size_forms: { type: "array", items: { type: "string", enum: [...SIZE_FORMS] } },
    size_presets: { type: "array", items: { type: "string", pattern: WXH_PATTERN } },
    ratio_sizes: {
      type: "object",
      description: "ratio → quality tier → `WxH`",
      additionalProperties: {
        type: "object",
        additionalProperties: { type: "string", pattern: WXH_PATTERN },
      },
    },
    auto_size: { type: "string", pattern: WXH_PATTERN },
    min_pixels: { type: "integer" },
    max_pixels: { type: "integer" },
    min_aspect: { type: "number" },
    max_aspect: { type: "number" },
    side_multiple: { type: "integer" },
    max_side: { type: "integer" },
    min_side: { type: "integer" },
    prompt_priorities: strings,
    max_reference_images: { type: "integer" },
    max_reference_bytes: { type: "integer" },
    max_total_images: { type: "integer" },
    max_n: { type: "integer" },
    model_params: {
      type: "object",
      additionalProperties: {
        oneOf: [
          exact({ type: { const: "enum" }, values: strings, default: { type: "string" } }, [
            "default",
          ]),
          exact({ type: { const: "tools" }, allowed: strings }),
          ...(["integer", "number"] as const).map((kind) =>
            exact(
              {
                type: { const: kind },
                min: { type: kind },
                max: { type: kind },
                default: { type: kind },
              },
              ["default"],
            ),
          ),
          exact({ type: { const: "boolean" }, default: { type: "boolean" } }, ["default"]),
        ],
      },
    },
  },
  ["size_presets", "ratio_sizes", "side_multiple", "max_side", "min_side"],
);

export function paramToJson(rule: ModelParamRule): ModelParamJson {
  const { kind, ...rest } = rule;
  return { type: kind, ...rest } as ModelParamJson;
}

export function paramFromJson(json: ModelParamJson): ModelParamRule {
  const { type, ...rest } = json;
  return { kind: type, ...rest } as ModelParamRule;
}

/** The rules GET /v1/models shows, in the config file's terms. */
export function modelRulesJson(spec: ModelSpec): ModelRulesJson {
  const out: ModelRulesJson = {
    prompt_max_chars: spec.promptMaxChars,
    qualities: spec.qualities,
    default_quality: spec.defaultQuality,
    size_forms: spec.sizePresets ? ["auto", "pixels"] : (spec.sizeForms ?? [...SIZE_FORMS]),
    auto_size: wxh(spec.autoSize ?? [2048, 2048]),
    min_pixels: spec.minPixels,
    max_pixels: spec.maxPixels,
    min_aspect: spec.minAspect,
    max_aspect: spec.maxAspect,
    prompt_priorities: spec.promptPriorities,
    max_reference_images: spec.maxReferenceImages,
    max_reference_bytes: spec.maxReferenceBytes,
    max_total_images: spec.maxTotalImages,
    max_n: spec.maxN,
    model_params: Object.fromEntries(
      Object.entries(spec.modelParams).map(([k, r]) => [k, paramToJson(r)]),
    ),
  };
  if (spec.sizePresets) out.size_presets = spec.sizePresets;
  if (spec.ratioSizes)
    out.ratio_sizes = Object.fromEntries(
      Object.entries(spec.ratioSizes).map(([r, row]) => [
        r,
        Object.fromEntries(Object.entries(row).map(([q, px]) => [q, wxh(px)])),
      ]),
    );
  if (spec.sideMultiple !== undefined) out.side_multiple = spec.sideMultiple;
  if (spec.maxSide !== undefined) out.max_side = spec.maxSide;
  if (spec.minSide !== undefined) out.min_side = spec.minSide;
  return out;
}

/** One inconsistency: `path` in the config file's terms (e.g. `model_params.steps.default`). */
export interface RuleProblem {
  path: string;
  message: string;
}

const TIERS = new Set(["1K", "2K", "3K", "4K"]);

/**
 * Everything that makes a model's rules contradict themselves; empty when they hold.
 * Each size the model lists (presets, ratio table, auto) must pass its own limits, so
 * a rule the validator would apply can never refuse a size the model advertises.
 */
export function modelRuleProblems(spec: ModelSpec): RuleProblem[] {
  const out: RuleProblem[] = [];
  const add = (path: string, message: string) => out.push({ path, message });
  const sizeProblem = (w: number, h: number): string | null => {
    const px = w * h;
    if (px < spec.minPixels || px > spec.maxPixels)
      return `${w}x${h} has ${px} pixels, outside min_pixels..max_pixels (${spec.minPixels}..${spec.maxPixels})`;
    const a = w / h;
    if (a < spec.minAspect * (1 - 1e-9) || a > spec.maxAspect * (1 + 1e-9))
      return `${w}x${h} is outside min_aspect..max_aspect`;
    return null;
  };

  if (spec.qualities.length === 0) add("qualities", "must list at least one quality");
  if (!spec.qualities.includes(spec.defaultQuality))
    add("default_quality", `must be one of qualities (${spec.qualities.join(", ")})`);
  if (spec.minPixels > spec.maxPixels) add("max_pixels", "must be at least min_pixels");
  if (!(spec.minAspect > 0)) add("min_aspect", "must be greater than 0");
  if (spec.minAspect > spec.maxAspect) add("max_aspect", "must be at least min_aspect");
  if (spec.minSide !== undefined && spec.maxSide !== undefined && spec.minSide > spec.maxSide)
    add("max_side", "must be at least min_side");
  if (spec.maxTotalImages < 1) add("max_total_images", "must be at least 1");
  if (spec.maxN > spec.maxTotalImages) add("max_n", "must not exceed max_total_images");
  if (spec.promptPriorities.length === 0)
    add("prompt_priorities", "must list at least one priority");

  const forms = spec.sizeForms ?? SIZE_FORMS;
  if (forms.length === 0) add("size_forms", "must list at least one form");
  if (new Set(forms).size !== forms.length) add("size_forms", "lists a form twice");
  if (forms.includes("ratio") && !spec.sizePresets) {
    if (!spec.qualities.some((q) => TIERS.has(q)))
      add("size_forms", "the ratio form needs a quality tier (1K, 2K, 3K or 4K) among qualities");
  }
  if (forms.includes("tier") && !spec.qualities.some((q) => TIERS.has(q)))
    add("size_forms", "the tier form needs a quality tier (1K, 2K, 3K or 4K) among qualities");

  if (spec.autoSize && (forms.includes("auto") || spec.sizePresets)) {
    const p = sizeProblem(spec.autoSize[0], spec.autoSize[1]);
    if (p) add("auto_size", p);
  }
  for (const [i, preset] of (spec.sizePresets ?? []).entries()) {
    const m = /^([1-9]\d*)x([1-9]\d*)$/.exec(preset);
    if (!m) add(`size_presets[${i}]`, "must be WxH");
    else {
      const p = sizeProblem(Number(m[1]), Number(m[2]));
      if (p) add(`size_presets[${i}]`, p);
    }
  }
  for (const [ratio, row] of Object.entries(spec.ratioSizes ?? {})) {
    if (!/^[1-9]\d*:[1-9]\d*$/.test(ratio))
      add(`ratio_sizes.${ratio}`, "a ratio is written like 16:9");
    for (const [q, [w, h]] of Object.entries(row)) {
      const path = `ratio_sizes.${ratio}.${q}`;
      if (!spec.qualities.includes(q)) add(path, `${q} is not one of qualities`);
      const p = sizeProblem(w, h);
      if (p) add(path, p);
    }
  }

  for (const [name, rule] of Object.entries(spec.modelParams)) {
    const path = `model_params.${name}`;
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(name))
      add(path, "a parameter name is lowercase letters, digits and _");
    switch (rule.kind) {
      case "enum":
        if (rule.values.length === 0) add(`${path}.values`, "must list at least one value");
        if (rule.default !== undefined && !rule.values.includes(rule.default))
          add(`${path}.default`, "must be one of values");
        break;
      case "integer":
      case "number":
        if (rule.min > rule.max) add(`${path}.max`, "must be at least min");
        if (rule.kind === "integer" && (!Number.isInteger(rule.min) || !Number.isInteger(rule.max)))
          add(path, "min and max of an integer must be integers");
        if (rule.default !== undefined && (rule.default < rule.min || rule.default > rule.max))
          add(`${path}.default`, "must be between min and max");
        if (
          rule.kind === "integer" &&
          rule.default !== undefined &&
          !Number.isInteger(rule.default)
        )
          add(`${path}.default`, "must be an integer");
        break;
      case "tools":
        if (rule.allowed.length === 0) add(`${path}.allowed`, "must list at least one tool");
        break;
      case "boolean":
        break;
    }
  }
  return out;
}
