/**
 * The contract every upstream adapter implements. It imports no provider: the
 * registry (providers/registry.ts) maps names to implementations.
 *
 * A provider turns one normalised GenerationRequest into images. It never touches the
 * database or the ledger: it reports images and progress through the context, and
 * returns (or throws) a classified outcome that the runner settles.
 */
import type { FailureCode, GenerationRequest, ReferenceImage } from "../core/types.js";

// Part of this contract, defined in core because media (below providers) raises and
// produces them too while it loads reference images.
export { ProviderError } from "../core/provider-error.js";
export type { ReferenceImage } from "../core/types.js";

/** An image produced by a provider, handed over as bytes (never a URL the caller sees). */
export interface ProducedImage {
  /** 0-based position within the task's set. */
  index: number;
  data: Buffer;
  contentType: string;
  width: number;
  height: number;
}

export interface GenerateContext {
  /** Aborted when the task is cancelled, the lease is lost or the runner stops. */
  signal: AbortSignal;
  /** Report progress 0..99 (100 is set by the runner when the task completes). */
  onProgress(percent: number): void;
  /**
   * Hand over one finished image. The runner stores it before resolving, so a
   * provider that streams can free the bytes as soon as this settles. The bytes are
   * the runner's from the call on: it may move their memory to a writer thread (the
   * provider's `data` is then empty), so a provider never reads them afterwards.
   */
  onImage(image: ProducedImage): Promise<void>;
  referenceImages: ReferenceImage[];
  /**
   * Our task's id, stable across attempts: a provider may derive an upstream
   * idempotency key from it, so a re-run after a crash finds its upstream task again.
   */
  taskId?: string;
  /** The channel's settings (upstream model id, base URL, secret...). */
  channel: ChannelSettings;
}

export interface ChannelSettings {
  id: string;
  provider: string;
  baseUrl?: string;
  apiKey?: string;
  upstreamModel?: string;
  timeoutMs: number;
  options: Record<string, unknown>;
}

/** What validateChannel sees: a channel definition (snake_case fields in messages). */
export interface ChannelToValidate {
  baseUrl?: string | null;
  upstreamModel?: string | null;
  options: Record<string, unknown>;
}

/** What a provider reports when it returns normally. */
export interface GenerateOutcome {
  /** Images delivered through onImage; the charge follows this count. */
  generated: number;
  /** Per-image failures that did not stop the set (e.g. one image moderated). */
  failures: Array<{ index: number; code: FailureCode; message: string }>;
}

export interface Provider {
  readonly name: string;
  /**
   * True when re-running a task after a crash costs nothing upstream (the sandbox).
   * A task whose lease expired mid-call on a provider where this is false is failed
   * with a refund instead of being repeated.
   */
  readonly safeToRepeat: boolean;
  /**
   * True when aborting `ctx.signal` once the upstream call has started still stops the
   * work and its cost (the sandbox; ComfyUI's interrupt). When false or absent, a task
   * is cancellable only until its upstream call starts: then `task_info.can_cancel`
   * turns false and a cancel answers 409 task_not_cancellable.
   */
  readonly canCancel?: boolean;
  /**
   * The `model_params` this provider sends upstream. A config-file channel whose model
   * declares a parameter outside this list stops the start: callers would ask for
   * something silently dropped. Absent: the provider passes every parameter on (evolink)
   * or has its own way to use them.
   */
  readonly modelParams?: readonly string[];
  /**
   * Checks a channel's provider-specific settings when the channel is loaded (config
   * file at boot, admin API create/change, admin channels on reload); throws an Error
   * whose message names the problem and the field (e.g. comfyui's workflow template,
   * ark's missing upstream_model). Absent: nothing to check.
   */
  validateChannel?(channel: ChannelToValidate): void;
  /**
   * When a channel's settings change the two guarantees above (evolink: only an upstream
   * that is itself a Darkroom honours Idempotency-Key replay and cancel), the answer for
   * that channel. Absent: `safeToRepeat` and `canCancel` hold for every channel.
   */
  guaranteesFor?(options: Record<string, unknown>): ChannelGuarantees;
  generate(req: GenerationRequest, ctx: GenerateContext): Promise<GenerateOutcome>;
}

/** What a call on one channel promises about repeats and cancels (see Provider). */
export interface ChannelGuarantees {
  safeToRepeat: boolean;
  canCancel: boolean;
}

/** The guarantees of `provider` on a channel with these options. */
export function guaranteesOf(
  provider: Provider,
  options: Record<string, unknown>,
): ChannelGuarantees {
  return (
    provider.guaranteesFor?.(options) ?? {
      safeToRepeat: provider.safeToRepeat,
      canCancel: provider.canCancel === true,
    }
  );
}
