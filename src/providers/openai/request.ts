/**
 * Our normalised request → the OpenAI Images API's fields, declared field by field,
 * and the response parser. Pure: no I/O.
 *
 * Size: the OpenAI wire format only knows `WxH` (and `auto` on the GPT image models),
 * so whatever form the caller used travels as the pixels it resolved to (src/core/size.ts):
 * - gpt-image-1's presets (`1024x1024`, `1536x1024`, `1024x1536`) go as they are;
 * - `auto` goes as `auto` to a GPT image model, and as the model's resolved auto size
 *   (e.g. 2048x2048 for seedream) to any other family, which may not know `auto`;
 * - a seedream ratio × quality (`16:9` × `2K` → `2848x1600`, api.md's table; `3K` by the
 *   rule in size.ts), a tier (`4K` → `4096x4096`) or free pixels go as that `WxH`.
 *   An OpenAI-compatible server serving a seedream model accepts these; a server with a
 *   fixed size list refuses the others with a 400, which fails the task as
 *   invalid_parameters (the caller asked for a size this channel cannot make).
 * Quality: a model's own values (low/medium/high/auto) go to GPT image models and
 * compatible servers as they are; dall-e-3 knows standard/hd (high → hd, low/medium →
 * standard, auto → its default); dall-e-2 has none. A pixel tier (1K..4K, the seedream
 * models) is already in the size and is not sent.
 */
import type { GenerationRequest } from "../../core/types.js";
import type { ChannelSettings } from "../contract.js";
import { familyOf, type OpenAIFamily } from "./api.js";

const TIERS = new Set(["1K", "2K", "3K", "4K"]);

interface MapInput {
  req: GenerationRequest;
  channel: ChannelSettings;
  family: OpenAIFamily;
  upstreamModel: string;
  /** Images asked of this one call (dall-e-3 makes one per call). */
  n: number;
}

type FieldValue = string | number | undefined;

const str = (x: unknown): string | undefined => (typeof x === "string" && x ? x : undefined);

/** The request fields, in the order they are sent; a field whose value is undefined is left out. */
const FIELDS: Array<[name: string, value: (i: MapInput) => FieldValue]> = [
  ["model", (i) => i.upstreamModel],
  ["prompt", (i) => i.req.prompt],
  ["n", (i) => i.n],
  ["size", (i) => sizeField(i)],
  ["quality", (i) => qualityField(i)],
  // GPT image models always answer b64_json and refuse the field.
  [
    "response_format",
    (i) =>
      i.family === "gpt-image"
        ? undefined
        : i.channel.options.response_format === "url"
          ? "url"
          : "b64_json",
  ],
  [
    "output_format",
    (i) =>
      i.family === "gpt-image" || i.family === "compatible"
        ? str(i.req.modelParams.output_format)
        : undefined,
  ],
  [
    "background",
    (i) =>
      i.family === "gpt-image" || i.family === "compatible"
        ? str(i.req.modelParams.background)
        : undefined,
  ],
  ["output_compression", (i) => gptImageOnly(i, num(i.req.modelParams.output_compression))],
  ["moderation", (i) => gptImageOnly(i, str(i.req.modelParams.moderation))],
];

const num = (x: unknown): number | undefined => (typeof x === "number" ? x : undefined);

/** A GPT image model's own field (gpt-image-2's compression, moderation): others never get it. */
const gptImageOnly = <T>(i: MapInput, v: T | undefined): T | undefined =>
  i.family === "gpt-image" || i.family === "compatible" ? v : undefined;

function sizeField({ req, family }: MapInput): string {
  if (req.size.kind === "auto" && family === "gpt-image") return "auto";
  return `${req.size.width}x${req.size.height}`;
}

function qualityField({ req, family }: MapInput): string | undefined {
  if (TIERS.has(req.quality)) return undefined;
  switch (family) {
    case "dall-e-2":
      return undefined;
    case "dall-e-3":
      return req.quality === "high" ? "hd" : req.quality === "auto" ? undefined : "standard";
    default:
      return req.quality;
  }
}

export interface OpenAICall {
  endpoint: "generations" | "edits";
  fields: Record<string, string | number>;
  /** The multipart field name of each reference image (edits only). */
  imageField: "image[]" | "image";
}

/** How many images one call may ask for: dall-e-3 makes one per call, the others up to 10. */
export function imagesPerCall(family: OpenAIFamily): number {
  return family === "dall-e-3" ? 1 : 10;
}

export function buildCall(
  req: GenerationRequest,
  channel: ChannelSettings,
  n: number,
  withReferences: boolean,
): OpenAICall {
  const upstreamModel = channel.upstreamModel ?? req.model;
  const input: MapInput = { req, channel, family: familyOf(upstreamModel), upstreamModel, n };
  const fields: Record<string, string | number> = {};
  for (const [name, value] of FIELDS) {
    const v = value(input);
    if (v !== undefined) fields[name] = v;
  }
  return {
    endpoint: withReferences ? "edits" : "generations",
    fields,
    imageField: input.family === "dall-e-2" ? "image" : "image[]",
  };
}

export type ResponseItem = { b64: string } | { url: string };

/** `{created, data: [{b64_json | url}], usage?}` → its items, or null when it is not that shape. */
export function parseImagesResponse(body: Buffer): ResponseItem[] | null {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return null;
  const items: ResponseItem[] = [];
  for (const d of data) {
    const b64 = (d as { b64_json?: unknown } | null)?.b64_json;
    const url = (d as { url?: unknown } | null)?.url;
    if (typeof b64 === "string" && b64) items.push({ b64 });
    else if (typeof url === "string" && /^https?:\/\//i.test(url)) items.push({ url });
    else return null;
  }
  return items;
}
