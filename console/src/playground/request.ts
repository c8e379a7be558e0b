/**
 * The playground's request: the form's fields, the contract's checks on them as the
 * operator types (the server's own size rules and model catalogue, imported from
 * src/core, so the console and the gateway cannot disagree), the JSON body, and the
 * equivalent curl command.
 */
import { BUILTIN_MODELS, type ModelSpec } from "../../../src/core/models.js";
import { RATIOS, resolveSize } from "../../../src/core/size.js";

export interface PlaygroundForm {
  model: string;
  prompt: string;
  /** "auto", a ratio, a tier, a preset `WxH`, or "custom" (then width × height). */
  size: string;
  width: string;
  height: string;
  quality: string;
  n: string;
  promptPriority: string;
  imageUrls: string;
  callbackUrl: string;
}

export const SIZE_CUSTOM = "custom";

/** The rules of a built-in model; an operator-defined one is left to the server. */
export const modelSpec = (id: string): ModelSpec | undefined =>
  BUILTIN_MODELS.find((m) => m.id === id);

export function defaultForm(model: string): PlaygroundForm {
  const spec = modelSpec(model);
  return {
    model,
    prompt: "",
    size: "auto",
    width: "2048",
    height: "2048",
    quality: spec?.defaultQuality ?? "",
    n: "1",
    promptPriority: "standard",
    imageUrls: "",
    callbackUrl: "",
  };
}

/** The size choices the model offers (the select's options, before "custom"). */
export function sizeChoices(spec: ModelSpec | undefined): string[] {
  if (spec?.sizePresets) return ["auto", ...spec.sizePresets];
  const tiers = (spec?.qualities ?? ["1K", "2K", "4K"]).filter((q) => /^[1-4]K$/.test(q));
  return ["auto", ...RATIOS, ...tiers];
}

export const imageUrlList = (text: string): string[] =>
  text
    .split(/\s+/)
    .map((s) => s.trim())
    .filter(Boolean);

export type Problems = Partial<Record<keyof PlaygroundForm, string>>;

export interface Checked {
  problems: Problems;
  /** The pixels the size resolves to, when it is valid and known. */
  pixels: [number, number] | null;
}

function isHttpUrl(s: string, https: boolean): boolean {
  try {
    const u = new URL(s);
    return https ? u.protocol === "https:" : u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}

export const sizeText = (f: PlaygroundForm): string =>
  f.size === SIZE_CUSTOM ? `${f.width.trim()}x${f.height.trim()}` : f.size;

/**
 * The contract's checks (api.md, POST /v1/images/generations) on the form as it stands;
 * `uploaded` are the links of files uploaded from the playground, reference images too.
 */
export function check(f: PlaygroundForm, uploaded: string[] = []): Checked {
  const p: Problems = {};
  const spec = modelSpec(f.model);
  let pixels: [number, number] | null = null;
  if (!f.model) p.model = "Choose a model.";
  const chars = [...f.prompt].length;
  if (f.prompt.trim() === "") p.prompt = "A prompt is required.";
  else if (spec && chars > spec.promptMaxChars)
    p.prompt = `${chars} characters; ${spec.id} accepts at most ${spec.promptMaxChars}.`;

  const maxN = spec?.maxN ?? 15;
  const n = Number(f.n);
  if (!/^\d+$/.test(f.n.trim()) || n < 1 || n > maxN)
    p.n = `n must be a whole number from 1 to ${maxN}.`;

  if (spec && f.quality && !spec.qualities.includes(f.quality))
    p.quality = `quality must be one of ${spec.qualities.join(", ")}.`;
  if (spec && !spec.promptPriorities.includes(f.promptPriority as "standard"))
    p.promptPriority = `${spec.id} takes prompt priority ${spec.promptPriorities.join(" or ")}.`;

  if (f.size === SIZE_CUSTOM && !(/^\d+$/.test(f.width.trim()) && /^\d+$/.test(f.height.trim()))) {
    p.size = "Width and height must be whole numbers of pixels.";
  } else if (spec) {
    const r = resolveSize(sizeText(f), f.quality || spec.defaultQuality, spec);
    if (r.ok) pixels = [r.size.width, r.size.height];
    else p.size = r.message;
  }

  const urls = [...imageUrlList(f.imageUrls), ...uploaded];
  const maxRefs = spec?.maxReferenceImages ?? 14;
  const bad = urls.find((u) => !isHttpUrl(u, false) || u.length > 2048);
  if (bad) p.imageUrls = `Not an http(s) URL: ${bad.slice(0, 80)}`;
  else if (urls.length > maxRefs) p.imageUrls = `At most ${maxRefs} reference images.`;
  else if (!p.n && n + urls.length > (spec?.maxTotalImages ?? 15))
    p.imageUrls = `n plus the reference images must be at most ${spec?.maxTotalImages ?? 15}.`;

  const cb = f.callbackUrl.trim();
  if (cb && (!isHttpUrl(cb, true) || cb.length > 2048))
    p.callbackUrl = "The callback URL must be an https URL of at most 2048 characters.";
  return { problems: p, pixels };
}

/**
 * The JSON body for POST /v1/images/generations (only the fields the operator set); the
 * uploaded files' links follow the typed reference URLs in `image_urls`.
 */
export function requestBody(f: PlaygroundForm, uploaded: string[] = []): Record<string, unknown> {
  const spec = modelSpec(f.model);
  const body: Record<string, unknown> = { model: f.model, prompt: f.prompt };
  const n = Number(f.n);
  if (n !== 1) body.n = n;
  const size = sizeText(f);
  if (size !== "auto") body.size = size;
  if (f.quality && f.quality !== spec?.defaultQuality) body.quality = f.quality;
  if (f.promptPriority !== "standard") body.prompt_priority = f.promptPriority;
  const urls = [...imageUrlList(f.imageUrls), ...uploaded];
  if (urls.length > 0) body.image_urls = urls;
  if (f.callbackUrl.trim()) body.callback_url = f.callbackUrl.trim();
  return body;
}

/** A shell word in single quotes (a quote inside becomes '\''). */
const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The same request as a curl command. The key is always the variable $DARKROOM_API_KEY,
 * never the real one: the command is made to be copied into shells, tickets and chats.
 */
export function curlCommand(origin: string, body: Record<string, unknown>): string {
  return [
    `curl -sS -X POST ${shellQuote(`${origin}/v1/images/generations`)}`,
    `  -H "Authorization: Bearer $DARKROOM_API_KEY"`,
    `  -H 'Content-Type: application/json'`,
    `  -d ${shellQuote(JSON.stringify(body))}`,
  ].join(" \\\n");
}
