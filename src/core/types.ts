/**
 * Domain vocabulary shared by every layer. Pure types only: no I/O, no imports of
 * anything that does I/O.
 *
 * Glossary
 * - micros: integer micro-credits (1 credit = 1_000_000 micros). Every stored or
 *   computed amount of money is an integer number of micros, so balances never see
 *   binary floating point. Converted to a decimal number only at the JSON edge.
 * - ppm: parts per million, used for price multipliers (1.0 = 1_000_000 ppm).
 * - task: one submitted generation; its lifecycle is in core/task-state.ts.
 * - lease: a time-limited claim of a task by one runner, fenced by a random token.
 */

export type Micros = number;

export type TaskStatus = "pending" | "processing" | "completed" | "failed";

export type Quality = "1K" | "2K" | "3K" | "4K";

export type PromptPriority = "standard" | "fast";

/** How the caller expressed `size`; the sandbox and upstreams map each differently. */
export type SizeSpec =
  | { kind: "auto"; width: number; height: number }
  | { kind: "ratio"; ratio: string; quality: Quality; width: number; height: number }
  | { kind: "tier"; tier: Quality; width: number; height: number }
  | { kind: "pixels"; width: number; height: number };

/** A request after validation and normalisation against its model's rules. */
export interface GenerationRequest {
  model: string;
  prompt: string;
  n: number;
  size: SizeSpec;
  /**
   * The `quality` in force (explicit or the model's default): a pixel tier (1K..4K) for
   * the seedream models, or the model's own value (e.g. gpt-image-1's low/medium/high/auto).
   */
  quality: string;
  promptPriority: PromptPriority;
  imageUrls: string[];
  callbackUrl: string | null;
  /** Model-specific extras (e.g. seedream 5.0 lite `output_format`), already validated. */
  modelParams: Record<string, unknown>;
}

/** Business codes a failed task may carry (api.md, "Business codes"). */
export type FailureCode =
  | "content_policy_violation"
  | "invalid_parameters"
  | "image_processing_error"
  | "image_dimension_mismatch"
  | "request_cancelled"
  | "generation_failed_no_content"
  | "service_error"
  | "generation_timeout"
  | "resource_exhausted"
  | "quota_exceeded"
  | "service_unavailable"
  | "unknown_error";

export interface TaskFailure {
  code: FailureCode;
  /** One sentence, safe to show to the caller: no secrets, hosts or upstream bodies. */
  message: string;
}

/** One stored result image. `key` addresses it in media storage. */
export interface StoredImage {
  key: string;
  contentType: string;
  bytes: number;
  width: number;
  height: number;
}

/** A validated reference image, already fetched and checked by the runner. */
export interface ReferenceImage {
  data: Buffer;
  contentType: string;
  width: number;
  height: number;
}
