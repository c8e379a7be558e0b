/**
 * Ark's synchronous answer `{model, created, data: [...], usage}` → items. Each `data`
 * entry is an image (`url` | `b64_json`, `size: "WxH"`) or `{error: {code, message}}`
 * for one image of the set that failed. Pure; the same item shape comes out of the
 * stream's partial events (stream.ts).
 */

export type ArkItem =
  | { index: number | undefined; kind: "image"; b64?: string; url?: string; size?: string }
  | { index: number | undefined; kind: "failed"; code: string | undefined };

export interface ArkUsage {
  generated_images?: number;
  output_tokens?: number;
  total_tokens?: number;
}

export interface ArkResult {
  items: ArkItem[];
  usage: ArkUsage | null;
}

/** One image-or-error object, or null when it is neither. */
export function parseArkItem(
  o: Record<string, unknown>,
  index: number | undefined,
): ArkItem | null {
  if (o.error && typeof o.error === "object") {
    const code = (o.error as { code?: unknown }).code;
    return { index, kind: "failed", code: typeof code === "string" ? code : undefined };
  }
  const b64 = typeof o.b64_json === "string" && o.b64_json.length > 0 ? o.b64_json : undefined;
  const url = typeof o.url === "string" && o.url.length > 0 ? o.url : undefined;
  if (!b64 && !url) return null;
  const size = typeof o.size === "string" ? o.size : undefined;
  return { index, kind: "image", ...(b64 ? { b64 } : { url: url! }), ...(size ? { size } : {}) };
}

/** Parses the JSON text of a 200 answer; null when it is not Ark's shape. */
export function parseArkResult(text: string): ArkResult | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (!json || typeof json !== "object") return null;
  const o = json as Record<string, unknown>;
  if (!Array.isArray(o.data)) return null;
  const items: ArkItem[] = [];
  for (const [i, entry] of o.data.entries()) {
    if (!entry || typeof entry !== "object") return null;
    const item = parseArkItem(entry as Record<string, unknown>, i);
    if (!item) return null;
    items.push(item);
  }
  const usage = o.usage && typeof o.usage === "object" ? (o.usage as ArkUsage) : null;
  return { items, usage };
}

/** The `error.code` of an error body, if it has one. */
export function arkErrorCode(text: string): string | undefined {
  try {
    const o = JSON.parse(text) as { error?: { code?: unknown } };
    return typeof o?.error?.code === "string" ? o.error.code : undefined;
  } catch {
    return undefined;
  }
}
