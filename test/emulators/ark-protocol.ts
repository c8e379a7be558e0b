/**
 * The Ark emulator's protocol rules, apart from its server (ark.ts): the prompt
 * directives, Ark's body validation with its codes and params, its error types, and how
 * many images of a set the model makes (arkSetSize).
 */
import { createHash } from "node:crypto";

export interface Directives {
  error?: { status: number; code: string; retryAfter?: string };
  moderate: Set<number>;
  internalAfter?: number;
  generate?: number;
  streamError?: { code: string; after: number };
  delayMs: number;
  holdMs: number;
  hang: boolean;
  resetMidBody: boolean;
  malformed: boolean;
  cutStream: boolean;
  urlBroken: boolean;
  /** Downloads of `url` images from this index on answer only after this long. */
  downloadDelay?: { ms: number; from: number };
}

export function parseArkDirectives(prompt: string): Directives {
  const d: Directives = {
    moderate: new Set(),
    delayMs: 0,
    holdMs: 0,
    hang: false,
    resetMidBody: false,
    malformed: false,
    cutStream: false,
    urlBroken: false,
  };
  for (const m of prompt.matchAll(/\[ark:([a-z-]+)(?:=([^\]]*))?\]/g)) {
    const name = m[1]!;
    const value = m[2] ?? "";
    const parts = value.split(",").map((s) => s.trim());
    if (name === "error") {
      const rest = parts.slice(2).join(",");
      d.error = {
        status: Number(parts[0]),
        code: parts[1] ?? "",
        ...(rest.startsWith("retry-after=") ? { retryAfter: rest.slice(12) } : {}),
      };
    } else if (name === "moderate") parts.forEach((p) => d.moderate.add(Number(p)));
    else if (name === "internal-after") d.internalAfter = Number(value);
    else if (name === "generate") d.generate = Number(value);
    else if (name === "stream-error") {
      const after = parts.find((p) => p.startsWith("after="));
      d.streamError = { code: parts[0]!, after: after ? Number(after.slice(6)) : 0 };
    } else if (name === "delay") d.delayMs = Number(value);
    else if (name === "hold") d.holdMs = Number(value);
    else if (name === "hang") d.hang = true;
    else if (name === "reset-mid-body") d.resetMidBody = true;
    else if (name === "malformed") d.malformed = true;
    else if (name === "cut-stream") d.cutStream = true;
    else if (name === "url-broken") d.urlBroken = true;
    else if (name === "download-delay") {
      const from = parts.find((p) => p.startsWith("from="));
      d.downloadDelay = { ms: Number(parts[0]), from: from ? Number(from.slice(5)) : 0 };
    }
  }
  return d;
}

export class ArkFault {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
    readonly param = "",
  ) {}
}

export const ERROR_TYPES: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
};

const TIERS: Record<string, number> = { "1K": 1024, "2K": 2048, "4K": 4096 };
const MODEL_ID = /^(doubao-)?seedream-|^ep-/;

export interface Job {
  model: string;
  prompt: string;
  width: number;
  height: number;
  count: number;
  sequential: boolean;
  format: "b64_json" | "url";
  stream: boolean;
  png: boolean;
}

/** Ark's checks, in Ark's words (codes and params); throws an ArkFault. */
export function validateArkBody(body: Record<string, unknown>, notOpen: Set<string>): Job {
  const bad = (param: string, msg: string) =>
    new ArkFault(
      400,
      "InvalidParameter",
      `The parameter \`${param}\` specified in the request is not valid: ${msg}.`,
      param,
    );
  const missing = (param: string) =>
    new ArkFault(
      400,
      "MissingParameter",
      `The request failed because it is missing one or multiple required parameters: ${param}.`,
      param,
    );
  if (body.model === undefined) throw missing("model");
  if (typeof body.model !== "string") throw bad("model", "must be a string");
  if (!MODEL_ID.test(body.model))
    throw new ArkFault(
      404,
      "InvalidEndpointOrModel.NotFound",
      "The model or endpoint does not exist or you do not have access to it.",
    );
  if (notOpen.has(body.model))
    throw new ArkFault(404, "ModelNotOpen", "Your account has not activated the model service.");
  if (body.prompt === undefined || body.prompt === "") throw missing("prompt");
  if (typeof body.prompt !== "string") throw bad("prompt", "must be a string");
  const big = /seedream-4-5|seedream-5-0/.test(body.model);

  let width = 2048;
  let height = 2048;
  if (body.size !== undefined) {
    if (typeof body.size !== "string") throw bad("size", "must be a string");
    const m = /^(\d+)x(\d+)$/.exec(body.size);
    if (TIERS[body.size]) width = height = TIERS[body.size]!;
    else if (m) {
      width = Number(m[1]);
      height = Number(m[2]);
      const px = width * height;
      if (px < (big ? 3_686_400 : 921_600) || px > 16_777_216)
        throw bad("size", "total pixels out of range");
      if (width / height > 16 || height / width > 16)
        throw bad("size", "aspect ratio out of range");
    } else throw bad("size", "unknown size");
  }

  const seq = body.sequential_image_generation ?? "disabled";
  if (seq !== "auto" && seq !== "disabled")
    throw bad("sequential_image_generation", "must be auto or disabled");
  const opts = body.sequential_image_generation_options as { max_images?: unknown } | undefined;
  const max = opts?.max_images ?? 15;
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 15)
    throw bad("sequential_image_generation_options.max_images", "must be an integer in [1, 15]");

  const images =
    body.image === undefined ? [] : Array.isArray(body.image) ? body.image : [body.image];
  if (images.length > 14) throw bad("image", "at most 14 images");
  for (const img of images) {
    if (typeof img !== "string") throw bad("image", "must be a string");
    if (/^https?:\/\//.test(img)) continue;
    const m = /^data:image\/(png|jpeg|jpg|webp|bmp|tiff|gif);base64,([A-Za-z0-9+/=]+)$/.exec(img);
    if (!m) throw bad("image", "must be a URL or data:image/<format>;base64,<data>");
    if (Buffer.from(m[2]!, "base64").length < 16)
      throw new ArkFault(
        400,
        "InvalidImageURL.EmptyURI",
        "The image could not be decoded.",
        "image",
      );
  }
  if (seq === "auto" && images.length + max > 15)
    throw bad(
      "sequential_image_generation_options.max_images",
      "reference images plus generated images exceed 15",
    );

  const format = body.response_format ?? "url";
  if (format !== "url" && format !== "b64_json")
    throw bad("response_format", "must be url or b64_json");
  for (const k of ["watermark", "stream"]) {
    if (body[k] !== undefined && typeof body[k] !== "boolean") throw bad(k, "must be a boolean");
  }
  const mode = (body.optimize_prompt_options as { mode?: unknown } | undefined)?.mode;
  if (mode !== undefined && mode !== "standard" && mode !== "fast")
    throw bad("optimize_prompt_options.mode", "must be standard or fast");
  if (mode === "fast" && big)
    throw bad("optimize_prompt_options.mode", "fast is not supported by this model");
  if (
    body.output_format !== undefined &&
    body.output_format !== "png" &&
    body.output_format !== "jpeg"
  )
    throw bad("output_format", "must be png or jpeg");

  return {
    model: body.model,
    prompt: body.prompt,
    width,
    height,
    count: seq === "auto" ? max : 1,
    sequential: seq === "auto",
    format,
    stream: body.stream === true,
    png: body.output_format === "png",
  };
}

/**
 * How many images of a sequential set of up to `maxImages` the model decides to make
 * when no directive says: Ark may stop short, so about one multi-image request in four
 * (chosen by a hash of the prompt, so the same prompt always gets the same answer) makes
 * between 1 and maxImages - 1. Tests that need a full set say `[ark:generate=<n>]`, or
 * ask this function what to expect.
 */
export function arkSetSize(prompt: string, maxImages: number): number {
  if (maxImages < 2) return maxImages;
  const h = createHash("sha256").update(prompt).digest();
  return h[0]! % 4 === 0 ? 1 + (h[1]! % (maxImages - 1)) : maxImages;
}
