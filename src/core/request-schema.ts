/**
 * The JSON Schema (2020-12, as OpenAPI 3.1 embeds it) of POST /v1/images/generations,
 * derived from the model catalogue. Pure: a function of the ModelSpecs alone, so the
 * document served at /openapi.json describes the models this server was configured
 * with, operator-declared ones included.
 *
 * validate.ts takes its field limits from GENERATION_FIELDS and the same ModelSpec, and
 * test/core/request-schema.test.ts runs generated bodies through both and requires the
 * same verdict. Rules JSON Schema cannot say (pixel area and aspect of a size, the side
 * rules of a `WxH`, which tiers a ratio's row offers, n plus reference images, the
 * callback host) are refused by the validator alone and written in the descriptions.
 */
import { SIZE_FORMS, type ModelParamRule, type ModelSpec } from "./models.js";
import { seedreamRatioSizes } from "./size.js";

/** A JSON Schema object; its keywords are checked by the OpenAPI validator in the tests. */
export type JsonSchema = { [keyword: string]: unknown };

/** Field rules of a submission that do not depend on the model. */
export const GENERATION_FIELDS = {
  n: { min: 1, default: 1 },
  promptPriorityDefault: "standard",
  sizeDefault: "auto",
  imageUrlMaxChars: 2048,
  callbackUrlMaxChars: 2048,
} as const;

export interface RequestSchemaOptions {
  /** DARKROOM_ALLOW_HTTP_CALLBACKS: plain-http callback URLs are accepted. */
  allowHttpCallbacks?: boolean;
}

const TIERS = ["1K", "2K", "3K", "4K"];

/** `WxH` as size.ts reads it: positive whole numbers of up to six digits. */
const PIXEL_SIZE_PATTERN = "^([1-9]\\d{0,5})[xX]([1-9]\\d{0,5})$";

/** Null means "not set" for every optional field (validate.ts drops nulls first). */
const orNull = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: "null" }] });

/** Case-insensitive scheme prefix: URL parsing accepts `HTTPS://`. */
const schemePattern = (schemes: string[]) =>
  `^(${schemes
    .map((s) => [...s].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join(""))
    .join("|")})://`;

function sizeSchema(spec: ModelSpec): JsonSchema {
  const auto = spec.autoSize ?? [2048, 2048];
  if (spec.sizePresets) {
    return {
      type: "string",
      enum: ["auto", ...spec.sizePresets],
      description: `\`auto\` (${auto.join("x")}) or one of the model's sizes.`,
    };
  }
  const forms = spec.sizeForms ?? SIZE_FORMS;
  const tiers = spec.qualities.filter((q) => TIERS.includes(q));
  // A ratio is offered only at the tiers of its row that the model also takes; a row
  // with none of them (or a model with no tier quality) can never be valid.
  const ratios = Object.entries(spec.ratioSizes ?? seedreamRatioSizes(["1K", "2K", "3K", "4K"]))
    .filter(([, row]) => Object.keys(row).some((q) => tiers.includes(q)))
    .map(([r]) => r);
  const alternatives: JsonSchema[] = [];
  const words: string[] = [];
  if (forms.includes("auto")) {
    alternatives.push({ const: "auto" });
    words.push(`\`auto\` (${auto.join("x")})`);
  }
  if (forms.includes("ratio") && ratios.length > 0) {
    alternatives.push({
      enum: ratios,
      description: "A ratio, sized by a pixel-tier `quality` its row offers.",
    });
    words.push("a ratio, sized by `quality`");
  }
  if (forms.includes("tier") && tiers.length > 0) {
    alternatives.push({ enum: tiers, description: "A tier alone: a square." });
    words.push("a tier alone (a square)");
  }
  if (forms.includes("pixels")) {
    alternatives.push({ pattern: PIXEL_SIZE_PATTERN, description: "Pixels, width x height." });
    words.push(`pixels \`WxH\`${sideText(spec)}`);
  }
  return {
    type: "string",
    description:
      `${words.join("; ")}. Every size has W·H in [${spec.minPixels}, ${spec.maxPixels}] and ` +
      `W/H in [${ratioText(spec.minAspect)}, ${ratioText(spec.maxAspect)}] (checked by the server).`,
    // No form left (a model whose forms can never resolve): nothing is valid.
    anyOf: alternatives.length > 0 ? alternatives : [{ not: {} }],
  };
}

/** The `WxH` side rules, in words: the schema cannot check them (the server does). */
function sideText(spec: ModelSpec): string {
  const rules = [
    spec.sideMultiple !== undefined && spec.sideMultiple > 1
      ? `both sides multiples of ${spec.sideMultiple}`
      : "",
    spec.maxSide !== undefined ? `the longest side at most ${spec.maxSide}` : "",
    spec.minSide !== undefined ? `the shortest side at least ${spec.minSide}` : "",
  ].filter(Boolean);
  return rules.length > 0 ? ` with ${rules.join(", ")}` : "";
}

const ratioText = (x: number) => (x >= 1 ? String(x) : `1/${Math.round(1 / x)}`);

function modelParamSchema(rule: ModelParamRule): JsonSchema {
  // A switch over every kind: a new kind of rule does not compile until it is described.
  switch (rule.kind) {
    case "enum":
      return {
        type: "string",
        enum: rule.values,
        ...(rule.default !== undefined ? { default: rule.default } : {}),
      };
    case "tools":
      return {
        type: "array",
        items: {
          type: "object",
          properties: { type: { type: "string", enum: rule.allowed } },
          required: ["type"],
          additionalProperties: false,
        },
      };
    case "integer":
    case "number":
      return {
        type: rule.kind,
        minimum: rule.min,
        maximum: rule.max,
        ...(rule.default !== undefined ? { default: rule.default } : {}),
      };
    case "boolean":
      return { type: "boolean", ...(rule.default !== undefined ? { default: rule.default } : {}) };
    default:
      return unreachable(rule);
  }
}

function unreachable(rule: never): never {
  throw new Error(`no schema for model parameter rule ${JSON.stringify(rule)}`);
}

/** The request body for one model: its enums, ranges and parameters. */
export function modelRequestSchema(spec: ModelSpec, opts: RequestSchemaOptions = {}): JsonSchema {
  const callbackSchemes = opts.allowHttpCallbacks ? ["https", "http"] : ["https"];
  const params = Object.entries(spec.modelParams);
  return {
    title: spec.id,
    type: "object",
    required: ["model", "prompt"],
    properties: {
      model: { const: spec.id },
      prompt: {
        type: "string",
        minLength: 1,
        maxLength: spec.promptMaxChars,
        // Not only white space (validate.ts also refuses control characters).
        pattern: "\\S",
        description: `At most ${spec.promptMaxChars} characters (Unicode code points); no control characters other than tab and line breaks.`,
      },
      n: orNull({
        type: "integer",
        minimum: GENERATION_FIELDS.n.min,
        maximum: spec.maxN,
        default: GENERATION_FIELDS.n.default,
        description: `Images to generate; n plus the number of image_urls is at most ${spec.maxTotalImages}.`,
      }),
      size: orNull({ ...sizeSchema(spec), default: GENERATION_FIELDS.sizeDefault }),
      quality: orNull({ type: "string", enum: spec.qualities, default: spec.defaultQuality }),
      prompt_priority: orNull({
        type: "string",
        enum: spec.promptPriorities,
        default: GENERATION_FIELDS.promptPriorityDefault,
      }),
      image_urls: orNull({
        type: "array",
        maxItems: spec.maxReferenceImages,
        description: `Reference images, each at most ${spec.maxReferenceBytes} bytes (checked when the task runs).`,
        items: {
          type: "string",
          format: "uri",
          maxLength: GENERATION_FIELDS.imageUrlMaxChars,
          pattern: schemePattern(["https", "http"]),
        },
      }),
      callback_url: orNull({
        type: "string",
        format: "uri",
        maxLength: GENERATION_FIELDS.callbackUrlMaxChars,
        pattern: schemePattern(callbackSchemes),
        description:
          "Where the finished task is POSTed (Standard Webhooks signature). Its host must not be private, loopback or link-local.",
      }),
      model_params: orNull({
        type: "object",
        properties: Object.fromEntries(params.map(([k, rule]) => [k, modelParamSchema(rule)])),
        additionalProperties: false,
      }),
    },
  };
}

/** One schema per model, keyed by `model`; the request body is exactly one of them. */
export function generationRequestSchema(
  models: readonly ModelSpec[],
  opts: RequestSchemaOptions = {},
): JsonSchema {
  return { oneOf: models.map((m) => modelRequestSchema(m, opts)) };
}
