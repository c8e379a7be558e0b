/**
 * Our normalised request → the public EvoLink request fields, and the task view parser.
 * Pure: no I/O.
 *
 * `size` goes back in the form the caller used (auto, a ratio with `quality`, a tier, or
 * WxH), so the upstream applies the same contract rules we did. Reference images go as
 * the caller's original `image_urls`: the upstream fetches them itself (our runner has
 * already fetched and checked them, so a bad one failed before reaching here). The
 * callback is not forwarded: we poll.
 */
import type { GenerationRequest, SizeSpec } from "../../core/types.js";
import type { ChannelSettings } from "../contract.js";

export function sizeText(size: SizeSpec): string {
  switch (size.kind) {
    case "auto":
      return "auto";
    case "ratio":
      return size.ratio;
    case "tier":
      return size.tier;
    case "pixels":
      return `${size.width}x${size.height}`;
  }
}

type FieldValue = string | number | string[] | Record<string, unknown> | undefined;

const FIELDS: Array<
  [name: string, value: (r: GenerationRequest, c: ChannelSettings) => FieldValue]
> = [
  ["model", (r, c) => c.upstreamModel ?? r.model],
  ["prompt", (r) => r.prompt],
  ["n", (r) => r.n],
  ["size", (r) => sizeText(r.size)],
  ["quality", (r) => r.quality],
  ["prompt_priority", (r) => r.promptPriority],
  ["image_urls", (r) => (r.imageUrls.length > 0 ? r.imageUrls : undefined)],
  ["model_params", (r) => (Object.keys(r.modelParams).length > 0 ? r.modelParams : undefined)],
];

export function buildSubmitBody(
  req: GenerationRequest,
  channel: ChannelSettings,
): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, value] of FIELDS) {
    const v = value(req, channel);
    if (v !== undefined) body[name] = v;
  }
  return body;
}

export interface UpstreamTask {
  id: string;
  status: "pending" | "processing" | "completed" | "failed";
  progress: number;
  results: string[];
  errorCode: string | null;
}

const STATUSES = new Set(["pending", "processing", "completed", "failed"]);

/** A task view (`GET /v1/tasks/{id}` or the submission's answer), or null when it is not one. */
export function parseTask(body: Buffer): UpstreamTask | null {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
  if (typeof json !== "object" || json === null) return null;
  const t = json as Record<string, unknown>;
  if (typeof t.id !== "string" || !t.id || typeof t.status !== "string" || !STATUSES.has(t.status))
    return null;
  const results = Array.isArray(t.results)
    ? t.results.filter((u): u is string => typeof u === "string" && /^https?:\/\//i.test(u))
    : [];
  const err = t.error as { code?: unknown } | null | undefined;
  return {
    id: t.id,
    status: t.status as UpstreamTask["status"],
    progress: typeof t.progress === "number" && Number.isFinite(t.progress) ? t.progress : 0,
    results,
    errorCode: typeof err?.code === "string" ? err.code : null,
  };
}
