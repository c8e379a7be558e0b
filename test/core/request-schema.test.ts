/**
 * The generation request's JSON Schema (core/request-schema.ts, published in
 * /openapi.json) and validateGenerationRequest must give the same verdict. Bodies are
 * generated from each model's own rules (bounds, one past them, wrong types); ajv —
 * the validator Fastify ships — judges the schema side.
 *
 * Rules JSON Schema cannot express are listed in GAPS; a body built to break only one
 * of them must pass the schema and be refused by the validator (the schema is never
 * stricter than the server).
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import {
  BUILTIN_MODELS,
  ModelCatalogue,
  SIZE_FORMS,
  type ModelSpec,
  type SizeForm,
} from "../../src/core/models.js";
import { generationRequestSchema } from "../../src/core/request-schema.js";
import { RATIOS, ratioPixels, type Ratio } from "../../src/core/size.js";
import type { Quality } from "../../src/core/types.js";
import { validateGenerationRequest, type ValidateOptions } from "../../src/core/validate.js";

/** What the schema cannot say; the validator alone enforces these. */
const GAPS = {
  pixels: "a size's pixel count and aspect ratio within the model's limits",
  sides:
    "WxH sides a multiple of sideMultiple, the longest at most maxSide, the shortest at least minSide",
  totalImages: "n plus the number of reference images at most the model's maxTotalImages",
  control: "no control characters or lone surrogates in the prompt",
  credentials: "no user:password in a URL",
  callbackHost: "the callback host is not private, loopback or link-local",
} as const;
type Gap = keyof typeof GAPS;

interface Case {
  what: string;
  body: unknown;
  /** Breaks only a rule the schema cannot express. */
  gap?: Gap;
}

/** An operator-declared model unlike the built-ins: no `fast`, odd limits, a preset list. */
const operatorModel: ModelSpec = {
  ...BUILTIN_MODELS[3]!,
  id: "acme-painter",
  ownedBy: "acme",
  promptMaxChars: 50,
  qualities: ["draft", "final"],
  defaultQuality: "final",
  sizePresets: ["512x512", "768x512"],
  autoSize: [512, 512],
  minPixels: 512 * 512,
  maxPixels: 768 * 512,
  maxN: 3,
  maxReferenceImages: 2,
  maxTotalImages: 4,
  modelParams: { style: { kind: "enum", values: ["ink", "oil"] } },
};
const MODELS = [...BUILTIN_MODELS, operatorModel];

const TIERS: Quality[] = ["1K", "2K", "3K", "4K"];
const isTier = (q: string): q is Quality => (TIERS as string[]).includes(q);

function outOfLimits(w: number, h: number, m: ModelSpec): boolean {
  const px = w * h;
  return px < m.minPixels || px > m.maxPixels || w / h < m.minAspect || w / h > m.maxAspect;
}

function casesFor(m: ModelSpec): Case[] {
  const base = { model: m.id, prompt: "a lighthouse at dusk" };
  const c: Case[] = [];
  const add = (what: string, extra: Record<string, unknown>, gap?: Gap) =>
    c.push({ what, body: { ...base, ...extra }, ...(gap ? { gap } : {}) });

  add("the minimal body", {});
  add("an unknown field (ignored)", { colour: "red" });
  add("null for every optional field", {
    n: null,
    size: null,
    quality: null,
    prompt_priority: null,
    image_urls: null,
    callback_url: null,
    model_params: null,
  });
  c.push({ what: "no model", body: { prompt: "x" } });
  c.push({ what: "no prompt", body: { model: m.id } });
  add("model null", { model: null });
  add("model a number", { model: 4 });
  add("an unknown model", { model: `${m.id}-nope` });
  add("prompt null", { prompt: null });
  add("prompt empty", { prompt: "" });
  add("prompt only white space", { prompt: " \t\n " });
  add("prompt a number", { prompt: 7 });
  add("prompt at the limit, in emoji", { prompt: "🌊".repeat(m.promptMaxChars) });
  add("prompt one past the limit", { prompt: "a".repeat(m.promptMaxChars + 1) });
  add("prompt with a control character", { prompt: "a\u0001b" }, "control");
  add("prompt with a lone surrogate", { prompt: "a\ud800b" }, "control");

  for (const n of [0, 1, m.maxN, m.maxN + 1, -1]) add(`n = ${n}`, { n });
  add("n fractional", { n: 1.5 });
  add("n a string", { n: "2" });

  for (const q of m.qualities) add(`quality ${q}`, { quality: q });
  add("quality unknown", { quality: "8K" });
  add("quality a number", { quality: 2 });

  for (const p of ["standard", "fast", "slow"]) add(`prompt_priority ${p}`, { prompt_priority: p });

  add("size auto", { size: "auto" });
  add("size a number", { size: 1024 });
  add("size nonsense", { size: "big" });
  add("size an unknown ratio", { size: "16:10" });
  add("size with seven digits", { size: "1000000x1" });
  add("size 0x100", { size: "0x100" });
  const forms: readonly SizeForm[] = m.sizeForms ?? SIZE_FORMS;
  for (const t of TIERS) {
    // Valid only as one of the model's tier qualities, in its forms and limits.
    const offered = forms.includes("tier") && m.qualities.includes(t) && !m.sizePresets;
    const side = Number(t[0]) * 1024;
    add(
      `size tier ${t}`,
      { size: t },
      offered && outOfLimits(side, side, m) ? "pixels" : undefined,
    );
  }
  if (m.sizePresets) {
    for (const p of m.sizePresets) add(`size preset ${p}`, { size: p });
    add("size not a preset", { size: "1000x1000" });
    add("size a ratio (no ratio form)", { size: "1:1" });
  } else {
    for (const q of m.qualities.filter(isTier)) {
      for (const r of RATIOS) {
        // The model's own ratio table, or api.md's (seedream) when it has none.
        const px = m.ratioSizes ? m.ratioSizes[r]?.[q] : ratioPixels(r as Ratio, q);
        const offered = forms.includes("ratio") && px !== undefined;
        add(
          `size ${r} at ${q}`,
          { size: r, quality: q },
          offered && outOfLimits(px[0], px[1], m) ? "pixels" : undefined,
        );
      }
    }
    // Pixels: the extremes of the model's limits, on its side multiple.
    const step = m.sideMultiple ?? 1;
    const up = (x: number) => Math.ceil(x / step) * step;
    const down = (x: number) => Math.floor(x / step) * step;
    const lo = Math.max(up(Math.sqrt(m.minPixels)), up(m.minSide ?? 1));
    const hi = Math.min(down(Math.sqrt(m.maxPixels)), down(m.maxSide ?? Infinity));
    if (!forms.includes("pixels")) {
      add("pixels (no pixel form)", { size: `${lo}x${lo}` });
    } else {
      add("a square at the fewest pixels", { size: `${lo}x${lo}` });
      add("a square under the fewest pixels", { size: `${lo - step}x${lo - step}` }, "pixels");
      add("a square at the most pixels", { size: `${hi}X${hi}` });
      add("a square over the most pixels", { size: `${hi + step}x${hi + step}` }, "pixels");
      const narrow = up(Math.sqrt(m.minPixels / m.maxAspect));
      const wide = down(narrow * m.maxAspect);
      add("the widest aspect", { size: `${wide}x${narrow}` });
      add("past the widest aspect", { size: `${wide + narrow}x${narrow}` }, "pixels");
      add("past the tallest aspect", { size: `${narrow}x${wide + narrow}` }, "pixels");
      if (step > 1) add("a side off the multiple", { size: `${lo + 1}x${lo}` }, "sides");
      if (m.maxSide !== undefined) {
        const short = up(m.maxSide / m.maxAspect);
        add("the longest side at its most", { size: `${m.maxSide}x${short}` });
        add("the longest side past its most", { size: `${m.maxSide + step}x${short}` }, "sides");
      }
      if (m.minSide !== undefined) {
        const long = down(m.minSide * m.maxAspect);
        add("the shortest side at its least", { size: `${long}x${m.minSide}` });
        add("the shortest side under its least", { size: `${long}x${m.minSide - step}` }, "sides");
      }
    }
  }

  const url = (i: number) => `https://images.example.com/${i}.png`;
  const most = Array.from({ length: m.maxReferenceImages }, (_, i) => url(i));
  add("no reference images", { image_urls: [] });
  add("the most reference images", { image_urls: most });
  add("one reference image too many", { image_urls: [...most, url(99)] });
  add(
    "n plus reference images over the total",
    { image_urls: most, n: m.maxTotalImages - most.length + 1 },
    m.maxTotalImages - most.length + 1 <= m.maxN ? "totalImages" : undefined,
  );
  add("image_urls not an array", { image_urls: url(1) });
  add("an image url that is a number", { image_urls: [5] });
  add("an image url over ftp", { image_urls: ["ftp://images.example.com/a.png"] });
  add("an image url over plain http", { image_urls: ["http://images.example.com/a.png"] });
  add("a relative image url", { image_urls: ["/a.png"] });
  add("an image url too long", { image_urls: [`https://e.example/${"a".repeat(2040)}`] });
  add(
    "an image url with credentials",
    { image_urls: ["https://u:p@e.example/a.png"] },
    "credentials",
  );

  add("a callback url", { callback_url: "https://hooks.example.com/done" });
  add("a callback url in capitals", { callback_url: "HTTPS://hooks.example.com/done" });
  add("a callback url over http", { callback_url: "http://hooks.example.com/done" });
  add("a callback url not a url", { callback_url: "hooks" });
  add("a callback url a number", { callback_url: 1 });
  add("a callback url too long", { callback_url: `https://e.example/${"a".repeat(2040)}` });
  add("a callback url to loopback", { callback_url: "https://127.0.0.1/done" }, "callbackHost");
  add("a callback url with credentials", { callback_url: "https://u:p@e.example/" }, "credentials");

  add("model_params empty", { model_params: {} });
  add("model_params not an object", { model_params: "png" });
  add("model_params an unknown key", { model_params: { nope: "x" } });
  for (const [key, rule] of Object.entries(m.modelParams)) {
    if (rule.kind === "enum") {
      for (const v of rule.values) add(`${key} ${v}`, { model_params: { [key]: v } });
      add(`${key} unknown`, { model_params: { [key]: "zzz" } });
      add(`${key} null`, { model_params: { [key]: null } });
    } else if (rule.kind === "integer" || rule.kind === "number") {
      add(`${key} min`, { model_params: { [key]: rule.min } });
      add(`${key} max`, { model_params: { [key]: rule.max } });
      add(`${key} below`, { model_params: { [key]: rule.min - 1 } });
      add(`${key} above`, { model_params: { [key]: rule.max + 1 } });
      add(`${key} a string`, { model_params: { [key]: String(rule.min) } });
      if (rule.kind === "integer")
        add(`${key} fraction`, { model_params: { [key]: rule.min + 0.5 } });
    } else if (rule.kind === "boolean") {
      add(`${key} true`, { model_params: { [key]: true } });
      add(`${key} a string`, { model_params: { [key]: "true" } });
    } else {
      const ok = rule.allowed.map((type) => ({ type }));
      add(`${key} allowed`, { model_params: { [key]: ok } });
      add(`${key} empty`, { model_params: { [key]: [] } });
      add(`${key} unknown`, { model_params: { [key]: [{ type: "zzz" }] } });
      add(`${key} extra field`, { model_params: { [key]: [{ ...ok[0], x: 1 }] } });
      add(`${key} not a list`, { model_params: { [key]: ok[0] } });
    }
  }
  return c;
}

const notObjects: Case[] = [
  { what: "an array", body: [] },
  { what: "a string", body: "x" },
  { what: "null", body: null },
];

function judge(opts: ValidateOptions) {
  const ajv = new Ajv2020({ allErrors: false });
  addFormats.default(ajv);
  const check = ajv.compile(
    generationRequestSchema(MODELS, { allowHttpCallbacks: opts.allowHttpCallbacks ?? false }),
  );
  const catalogue = new ModelCatalogue(MODELS);
  return (body: unknown) => ({
    schema: check(body),
    validator: validateGenerationRequest(body, catalogue, opts).ok,
  });
}

describe("the request schema and validateGenerationRequest agree", () => {
  for (const allowHttpCallbacks of [false, true]) {
    it(`on every generated body (http callbacks ${allowHttpCallbacks ? "allowed" : "refused"})`, () => {
      const verdict = judge({ allowHttpCallbacks });
      const cases = [...notObjects, ...MODELS.flatMap(casesFor)];
      const gaps = new Set<Gap>();
      let valid = 0;
      let invalid = 0;
      for (const c of cases) {
        const v = verdict(c.body);
        const label = `${(c.body as { model?: string } | null)?.model ?? "-"}: ${c.what}`;
        if (c.gap) {
          gaps.add(c.gap);
          expect(v, `${label} (only the validator can say: ${GAPS[c.gap]})`).toEqual({
            schema: true,
            validator: false,
          });
        } else {
          expect(v.schema, label).toBe(v.validator);
          if (v.validator) valid++;
          else invalid++;
        }
      }
      // Both kinds of verdict were exercised, and every listed gap was probed.
      expect(valid).toBeGreaterThan(50);
      expect(invalid).toBeGreaterThan(50);
      expect([...gaps].sort()).toEqual(Object.keys(GAPS).sort());
    });
  }

  it("follows the catalogue it is given: a price-only change keeps the schema, a limit changes it", () => {
    const one = (m: ModelSpec) => generationRequestSchema([m]);
    const base = BUILTIN_MODELS[0]!;
    expect(one({ ...base, priceMicros: 1 })).toEqual(one(base));
    expect(one({ ...base, maxN: 4 })).not.toEqual(one(base));
  });
});
