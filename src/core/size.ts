/**
 * `size` resolution. Four forms (api.md): `auto`; a ratio combined with `quality`; a
 * tier alone; or `WxH` pixels. The ratio table is seedream 4.0's, cell for cell.
 *
 * Darkroom's own rules where the contract is silent (documented in the README):
 * - a tier alone (`2K`) is a square (1024/2048/3072/4096) and must be one of the
 *   model's qualities;
 * - `auto` resolves to 2048x2048 (the upstream's own default);
 * - ratio × 3K (not in the table): width = round16(sqrt(3072² · rw/rh)),
 *   height = round16(width · rh/rw) — the ratio at about the 3K pixel budget, both
 *   sides multiples of 16.
 * - a model that declares `sizePresets` (OpenAI style) takes only `auto` (its
 *   `autoSize`) or one of its presets, and its non-tier qualities have no ratio form.
 * - a model takes only the forms in its `sizeForms`, only the ratios of its
 *   `ratioSizes` (at the pixels that table gives), and `WxH` only within its side rules.
 * Every resolved size must still satisfy the model's pixel and aspect limits.
 */
import type { ModelSpec, SizeForm } from "./models.js";
import type { Quality, SizeSpec } from "./types.js";

export const RATIOS = [
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
  "9:21",
] as const;
export type Ratio = (typeof RATIOS)[number];

export const RATIO_TABLE: Record<Ratio, Record<"1K" | "2K" | "4K", [number, number]>> = {
  "1:1": { "1K": [1024, 1024], "2K": [2048, 2048], "4K": [4096, 4096] },
  "2:3": { "1K": [832, 1248], "2K": [1664, 2496], "4K": [3328, 4992] },
  "3:2": { "1K": [1248, 832], "2K": [2496, 1664], "4K": [4992, 3328] },
  "3:4": { "1K": [864, 1152], "2K": [1728, 2304], "4K": [3520, 4704] },
  "4:3": { "1K": [1152, 864], "2K": [2304, 1728], "4K": [4704, 3520] },
  "4:5": { "1K": [896, 1120], "2K": [1792, 2240], "4K": [3584, 4480] },
  "5:4": { "1K": [1120, 896], "2K": [2240, 1792], "4K": [4480, 3584] },
  "9:16": { "1K": [720, 1280], "2K": [1600, 2848], "4K": [3040, 5504] },
  "16:9": { "1K": [1280, 720], "2K": [2848, 1600], "4K": [5504, 3040] },
  "21:9": { "1K": [1512, 648], "2K": [3136, 1344], "4K": [6240, 2656] },
  "9:21": { "1K": [648, 1512], "2K": [1344, 3136], "4K": [2656, 6240] },
};

const TIER_SIDE: Record<Quality, number> = { "1K": 1024, "2K": 2048, "3K": 3072, "4K": 4096 };

const round16 = (x: number) => Math.max(16, Math.round(x / 16) * 16);

/** api.md's ratio table at these tiers (3K by the rule above), as a model's `ratioSizes`. */
export function seedreamRatioSizes(
  tiers: readonly Quality[],
): Record<string, Record<string, [number, number]>> {
  return Object.fromEntries(
    RATIOS.map((r) => [r, Object.fromEntries(tiers.map((t) => [t, ratioPixels(r, t)]))]),
  );
}

const SEEDREAM_RATIO_SIZES = seedreamRatioSizes(["1K", "2K", "3K", "4K"]);

export function ratioPixels(ratio: Ratio, quality: Quality): [number, number] {
  if (quality !== "3K") return RATIO_TABLE[ratio][quality];
  const [rw, rh] = ratio.split(":").map(Number) as [number, number];
  const w = round16(Math.sqrt((3072 * 3072 * rw) / rh));
  return [w, round16((w * rh) / rw)];
}

type Resolved = { ok: true; size: SizeSpec } | { ok: false; message: string };

const ratioText = (x: number) => {
  // 0.0625 → "1:16", 16 → "16:1", 3 → "3:1", 0.333… → "1:3"
  const r = (v: number) => String(Math.round(v * 100) / 100);
  return x >= 1 ? `${r(x)}:1` : `1:${r(1 / x)}`;
};

function withinLimits(w: number, h: number, model: ModelSpec): string | null {
  const px = w * h;
  if (px < model.minPixels || px > model.maxPixels) {
    return `size ${w}x${h} has ${px} pixels; ${model.id} needs between ${model.minPixels} and ${model.maxPixels}.`;
  }
  const aspect = w / h;
  // A small tolerance: 1/3 written as a decimal must still admit 1024x3072.
  if (aspect < model.minAspect * (1 - 1e-9) || aspect > model.maxAspect * (1 + 1e-9)) {
    return `size ${w}x${h} has an aspect ratio outside ${ratioText(model.minAspect)} to ${ratioText(model.maxAspect)}.`;
  }
  return null;
}

/** The side rules of the `WxH` form (gpt-image-2: multiples of 16, longest ≤ 3840). */
function sideProblem(w: number, h: number, model: ModelSpec): string | null {
  const m = model.sideMultiple;
  if (m !== undefined && m > 1 && (w % m !== 0 || h % m !== 0))
    return `size ${w}x${h}: both sides must be multiples of ${m} for ${model.id}.`;
  if (model.maxSide !== undefined && Math.max(w, h) > model.maxSide)
    return `size ${w}x${h}: the longest side may be at most ${model.maxSide} for ${model.id}.`;
  if (model.minSide !== undefined && Math.min(w, h) < model.minSide)
    return `size ${w}x${h}: the shortest side must be at least ${model.minSide} for ${model.id}.`;
  return null;
}

const isTier = (q: string): q is Quality => Object.hasOwn(TIER_SIDE, q);

/** A model with its own size list (OpenAI style): `auto` or one of its presets, nothing else. */
function resolvePreset(size: string, presets: string[], model: ModelSpec): Resolved {
  if (size === "auto") {
    const [width, height] = model.autoSize ?? [2048, 2048];
    return { ok: true, size: { kind: "auto", width, height } };
  }
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m || !presets.includes(size)) {
    return {
      ok: false,
      message: `size must be auto or one of ${presets.join(", ")} for ${model.id}.`,
    };
  }
  return { ok: true, size: { kind: "pixels", width: Number(m[1]), height: Number(m[2]) } };
}

const FORM_WORDS: Record<SizeForm, string> = {
  auto: "auto",
  ratio: "a ratio such as 16:9",
  tier: "a tier such as 2K",
  pixels: "pixels such as 2048x2048",
};

/** What the model accepts, in words, for a refusal. */
function formsText(model: ModelSpec, forms: readonly SizeForm[]): string {
  const words = forms.map((f) =>
    f === "ratio" && model.ratioSizes
      ? `a ratio (${Object.keys(model.ratioSizes).join(", ")})`
      : FORM_WORDS[f],
  );
  return `size must be ${words.join(", ")} for ${model.id}.`;
}

/**
 * `quality` is the model's quality in force: a pixel tier for the seedream models
 * (it sizes the ratio form); a model whose qualities are not tiers has no ratio form.
 */
export function resolveSize(size: string, quality: string, model: ModelSpec): Resolved {
  if (model.sizePresets) return resolvePreset(size, model.sizePresets, model);
  const forms = model.sizeForms ?? SIZE_FORM_LIST;
  const ratios = model.ratioSizes ?? SEEDREAM_RATIO_SIZES;
  const form: SizeForm =
    size === "auto" ? "auto" : /^\d+:\d+$/.test(size) ? "ratio" : isTier(size) ? "tier" : "pixels";
  if (!forms.includes(form)) return { ok: false, message: formsText(model, forms) };
  let spec: SizeSpec;
  if (form === "auto") {
    const [width, height] = model.autoSize ?? [2048, 2048];
    spec = { kind: "auto", width, height };
  } else if (form === "ratio") {
    const row = Object.hasOwn(ratios, size) ? ratios[size] : undefined;
    if (!row) return { ok: false, message: formsText(model, forms) };
    if (!isTier(quality)) {
      return {
        ok: false,
        message: `size ${size} (a ratio) needs a quality of 1K, 2K, 3K or 4K.`,
      };
    }
    const px = Object.hasOwn(row, quality) ? row[quality] : undefined;
    if (!px) {
      return {
        ok: false,
        message: `size ${size} is not offered at quality ${quality} by ${model.id}; use one of ${Object.keys(row).join(", ")}.`,
      };
    }
    spec = { kind: "ratio", ratio: size, quality, width: px[0], height: px[1] };
  } else if (form === "tier") {
    const tier = size as Quality;
    if (!model.qualities.includes(tier)) {
      return {
        ok: false,
        message: `size ${size} is not offered by ${model.id}; use one of ${model.qualities.join(", ")}.`,
      };
    }
    spec = { kind: "tier", tier, width: TIER_SIDE[tier], height: TIER_SIDE[tier] };
  } else {
    const m = /^([1-9]\d{0,5})[xX]([1-9]\d{0,5})$/.exec(size);
    if (!m) return { ok: false, message: formsText(model, forms) };
    spec = { kind: "pixels", width: Number(m[1]), height: Number(m[2]) };
    const side = sideProblem(spec.width, spec.height, model);
    if (side) return { ok: false, message: side };
  }
  const problem = withinLimits(spec.width, spec.height, model);
  return problem ? { ok: false, message: problem } : { ok: true, size: spec };
}

const SIZE_FORM_LIST: readonly SizeForm[] = ["auto", "ratio", "tier", "pixels"];
