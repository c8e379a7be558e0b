/**
 * A generateContent answer → what one call produced. Pure. The answer is
 * `{candidates: [{content: {parts: [{text} | {inlineData: {mimeType, data}}]}, finishReason}],
 * promptFeedback?: {blockReason}, usageMetadata}`; the REST API writes camelCase, and
 * snake_case (`inline_data`) is read too, as Google's JSON parsers accept both.
 */

export type CallResult =
  | { kind: "images"; images: Array<{ mimeType: string; data: string }> }
  /** The prompt was blocked before any candidate (promptFeedback.blockReason). */
  | { kind: "blocked"; reason: string }
  /** A candidate without an image: refused in words, filtered, or stopped. */
  | { kind: "no_image"; finishReason: string };

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null;

/** null: not a generateContent answer at all. */
export function parseGenerateContent(body: Buffer): CallResult | null {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
  if (!isObject(json)) return null;
  const feedback = json.promptFeedback;
  const candidates = json.candidates;
  if (isObject(feedback) && typeof feedback.blockReason === "string" && !Array.isArray(candidates))
    return { kind: "blocked", reason: feedback.blockReason };
  if (!Array.isArray(candidates) || candidates.length === 0) return null;
  const c: unknown = candidates[0];
  if (!isObject(c)) return null;
  const finishReason =
    typeof c.finishReason === "string" ? c.finishReason : "FINISH_REASON_UNSPECIFIED";
  const content = c.content;
  const parts = isObject(content) && Array.isArray(content.parts) ? content.parts : [];
  const images: Array<{ mimeType: string; data: string }> = [];
  for (const p of parts) {
    if (!isObject(p)) continue;
    // A model that "thinks" (gemini-3-pro-image) may send draft images marked `thought`.
    if (p.thought === true) continue;
    const inline = p.inlineData ?? p.inline_data;
    if (!isObject(inline)) continue;
    const mimeType = inline.mimeType ?? inline.mime_type;
    if (
      typeof mimeType === "string" &&
      /^image\//.test(mimeType) &&
      typeof inline.data === "string"
    )
      images.push({ mimeType, data: inline.data });
  }
  if (images.length > 0) return { kind: "images", images };
  return { kind: "no_image", finishReason };
}
