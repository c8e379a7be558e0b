/**
 * Validation and normalisation of POST /v1/images/generations, against the model's
 * own rules. Pure: the same body and catalogue always give the same answer. Unknown
 * fields are ignored; a wrong type is a 400 naming the field (never coerced: "3" is
 * not 3); out-of-range values are refused, never clamped (they change what we bill).
 */
import { ApiError } from "./errors.js";
import { checkCallbackUrl } from "./ip-rules.js";
import type { ModelCatalogue, ModelParamRule, ModelSpec } from "./models.js";
import { resolveSize } from "./size.js";
import type { GenerationRequest, PromptPriority } from "./types.js";
import { GENERATION_FIELDS } from "./request-schema.js";

type Result =
  { ok: true; request: GenerationRequest; spec: ModelSpec } | { ok: false; error: ApiError };

const bad = (param: string, message: string): Result => ({
  ok: false,
  error: new ApiError("invalid_request", message, { param }),
});

/**
 * C0 controls other than tab, LF and CR, DEL, C1 controls (U+0080–U+009F, NEL
 * included: clients send line breaks as LF or CR LF), and lone UTF-16 surrogates: no
 * upstream takes them, and they hide text in logs and consoles.
 */
const UNSENDABLE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

export interface ValidateOptions {
  /** Operators may allow plain-http callbacks (tests, on-prem); off by default. */
  allowHttpCallbacks?: boolean;
  /** Why a callback host is refused (null = allowed); default: the built-in SSRF rules. */
  callbackHostVerdict?: (hostname: string) => string | null;
}

export function validateGenerationRequest(
  input: unknown,
  catalogue: ModelCatalogue,
  opts: ValidateOptions = {},
): Result {
  if (!isObject(input)) {
    return {
      ok: false,
      error: new ApiError("invalid_request", "The request body must be a JSON object.", {
        param: "body",
      }),
    };
  }
  // JSON clients often send null for "not set": null means absent, for every field.
  const body = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null));
  const { model, prompt } = body;
  if (model === undefined) return bad("model", "model is required.");
  if (typeof model !== "string") return bad("model", "model must be a string.");
  const spec = catalogue.get(model);
  if (!spec) {
    return {
      ok: false,
      error: new ApiError("model_not_found", `The model ${model.slice(0, 100)} does not exist.`, {
        param: "model",
      }),
    };
  }

  if (prompt === undefined) return bad("prompt", "prompt is required.");
  if (typeof prompt !== "string") return bad("prompt", "prompt must be a string.");
  if (prompt.trim() === "") return bad("prompt", "prompt must not be empty.");
  if (UNSENDABLE.test(prompt)) {
    return bad(
      "prompt",
      "prompt must not contain control characters (other than tab and line breaks) or invalid Unicode.",
    );
  }
  // Characters as people count them: code points, so an emoji is one, not two.
  const length = [...prompt].length;
  if (length > spec.promptMaxChars) {
    return bad(
      "prompt",
      `prompt is ${length} characters; ${spec.id} accepts at most ${spec.promptMaxChars}.`,
    );
  }

  let n: number = GENERATION_FIELDS.n.default;
  if (body.n !== undefined) {
    if (typeof body.n !== "number" || !Number.isInteger(body.n))
      return bad("n", "n must be an integer.");
    const min = GENERATION_FIELDS.n.min;
    if (body.n < min || body.n > spec.maxN)
      return bad("n", `n must be between ${min} and ${spec.maxN}.`);
    n = body.n;
  }

  let quality = spec.defaultQuality;
  if (body.quality !== undefined) {
    if (typeof body.quality !== "string" || !spec.qualities.includes(body.quality)) {
      return bad("quality", `quality must be one of ${spec.qualities.join(", ")} for ${spec.id}.`);
    }
    quality = body.quality;
  }

  let promptPriority: PromptPriority = GENERATION_FIELDS.promptPriorityDefault;
  if (body.prompt_priority !== undefined) {
    if (
      typeof body.prompt_priority !== "string" ||
      !spec.promptPriorities.includes(body.prompt_priority as PromptPriority)
    ) {
      return bad(
        "prompt_priority",
        `prompt_priority must be one of ${spec.promptPriorities.join(", ")} for ${spec.id}.`,
      );
    }
    promptPriority = body.prompt_priority as PromptPriority;
  }

  let sizeText: string = GENERATION_FIELDS.sizeDefault;
  if (body.size !== undefined) {
    if (typeof body.size !== "string") return bad("size", "size must be a string.");
    sizeText = body.size;
  }
  const size = resolveSize(sizeText, quality, spec);
  if (!size.ok) return bad("size", size.message);

  const imageUrls: string[] = [];
  if (body.image_urls !== undefined) {
    if (!Array.isArray(body.image_urls))
      return bad("image_urls", "image_urls must be an array of URLs.");
    if (body.image_urls.length > spec.maxReferenceImages) {
      return bad("image_urls", `image_urls may hold at most ${spec.maxReferenceImages} images.`);
    }
    for (const [i, u] of body.image_urls.entries()) {
      const problem = checkImageUrl(u);
      if (problem) return bad("image_urls", `image_urls[${i}] ${problem}`);
      imageUrls.push(u as string);
    }
  }
  if (n + imageUrls.length > spec.maxTotalImages) {
    return bad(
      "n",
      `n plus the number of reference images must be at most ${spec.maxTotalImages}.`,
    );
  }

  let callbackUrl: string | null = null;
  if (body.callback_url !== undefined) {
    if (typeof body.callback_url !== "string")
      return bad("callback_url", "callback_url must be a string.");
    const problem = checkCallbackUrl(body.callback_url, {
      allowHttp: opts.allowHttpCallbacks ?? false,
      ...(opts.callbackHostVerdict ? { hostVerdict: opts.callbackHostVerdict } : {}),
    });
    if (problem) return bad("callback_url", problem);
    callbackUrl = body.callback_url;
  }

  const modelParams: Record<string, unknown> = {};
  if (body.model_params !== undefined) {
    if (!isObject(body.model_params)) return bad("model_params", "model_params must be an object.");
    for (const [key, value] of Object.entries(body.model_params)) {
      // Own keys only: "toString" is no parameter.
      const rule = Object.hasOwn(spec.modelParams, key) ? spec.modelParams[key] : undefined;
      const param = `model_params.${key}`;
      if (!rule) return bad(param, `${spec.id} has no parameter ${key}.`);
      const problem = checkModelParam(rule, value, param);
      if (problem !== null) return bad(param, problem);
      modelParams[key] =
        rule.kind === "tools"
          ? (value as Array<{ type: string }>).map((t) => ({ type: t.type }))
          : value;
    }
  }
  for (const [key, rule] of Object.entries(spec.modelParams)) {
    if (rule.kind !== "tools" && rule.default !== undefined && modelParams[key] === undefined)
      modelParams[key] = rule.default;
  }

  return {
    ok: true,
    spec,
    request: {
      model: spec.id,
      prompt,
      n,
      size: size.size,
      quality,
      promptPriority,
      imageUrls,
      callbackUrl,
      modelParams,
    },
  };
}

/** Why `value` breaks the parameter's rule (a sentence naming `param`), or null. */
function checkModelParam(rule: ModelParamRule, value: unknown, param: string): string | null {
  switch (rule.kind) {
    case "enum":
      return typeof value === "string" && rule.values.includes(value)
        ? null
        : `${param} must be one of ${rule.values.join(", ")}.`;
    case "integer":
      return typeof value === "number" &&
        Number.isInteger(value) &&
        value >= rule.min &&
        value <= rule.max
        ? null
        : `${param} must be an integer between ${rule.min} and ${rule.max}.`;
    case "number":
      return typeof value === "number" &&
        Number.isFinite(value) &&
        value >= rule.min &&
        value <= rule.max
        ? null
        : `${param} must be a number between ${rule.min} and ${rule.max}.`;
    case "boolean":
      return typeof value === "boolean" ? null : `${param} must be true or false.`;
    case "tools": {
      const ok =
        Array.isArray(value) &&
        value.every(
          (t) =>
            isObject(t) &&
            typeof t.type === "string" &&
            rule.allowed.includes(t.type) &&
            Object.keys(t).length === 1,
        );
      return ok
        ? null
        : `${param} must be a list of {"type": ${rule.allowed.map((a) => `"${a}"`).join(" | ")}}.`;
    }
  }
}

function checkImageUrl(u: unknown): string | null {
  if (typeof u !== "string") return "must be a string URL.";
  const max = GENERATION_FIELDS.imageUrlMaxChars;
  if (u.length > max) return `must be at most ${max} characters.`;
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return "is not an absolute URL.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must use http or https.";
  if (url.username || url.password) return "must not carry credentials.";
  return null;
}
