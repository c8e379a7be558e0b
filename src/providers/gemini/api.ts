/**
 * Where and how the Gemini API is called: `POST {base}/{version}/models/{model}:generateContent`
 * with the key in the `x-goog-api-key` header (never in the URL, where logs keep it).
 */
export const GEMINI_DEFAULT_BASE = "https://generativelanguage.googleapis.com";

export function generateContentUrl(baseUrl: string, version: string, model: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/${version}/models/${encodeURIComponent(model)}:generateContent`;
}

export function geminiHeaders(apiKey: string): Record<string, string> {
  return { "x-goog-api-key": apiKey, "content-type": "application/json" };
}
