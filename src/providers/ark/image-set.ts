/**
 * One task's set of n images as Ark reports them, item by item (stream events or the
 * `data` array): each index ends delivered (handed to the runner through onImage) or
 * failed. When the call stops early, every index not yet settled fails with the stop's
 * code. The charge follows delivered images, so a set with at least one image returns
 * normally; a set with none throws.
 */
import type { FailureCode } from "../../core/types.js";
import { ProviderError, type GenerateContext, type GenerateOutcome } from "../contract.js";
import { classifyArkError } from "./errors.js";
import { ArkImageError, materialiseArkImage } from "./images.js";
import type { ArkItem } from "./response.js";

/** The runner's onImage failed (storage, abort): not the upstream's doing, passed through as is. */
export class ArkDeliveryError extends Error {
  constructor(readonly original: unknown) {
    super("delivering an image to the runner failed");
    this.name = "ArkDeliveryError";
  }
}
import type { Dispatcher } from "undici";

interface Failure {
  index: number;
  code: FailureCode;
  message: string;
  retryable: boolean;
  /** The upstream made (and billed) this image but we could not take it. */
  charged?: boolean;
}

export class ArkImageSet {
  private readonly delivered = new Set<number>();
  private readonly failures: Failure[] = [];
  private readonly settled = new Set<number>();
  /** A per-image failure that ends the set (Ark stops after an internal error). */
  private stoppedBy: Failure | null = null;

  constructor(
    private readonly n: number,
    private readonly ctx: GenerateContext,
    private readonly download: {
      maxBytes: number;
      signal: AbortSignal;
      dispatcher?: Dispatcher;
    },
  ) {}

  get deliveredCount(): number {
    return this.delivered.size;
  }

  /** The upstream's index when it is usable, else the first free one; null past n. */
  private slot(index: number | undefined): number | null {
    if (index !== undefined && Number.isInteger(index) && index >= 0 && index < this.n) {
      if (!this.settled.has(index)) return index;
    }
    for (let i = 0; i < this.n; i++) if (!this.settled.has(i)) return i;
    return null;
  }

  private fail(
    index: number,
    code: FailureCode,
    message: string,
    retryable: boolean,
    charged = false,
  ): void {
    this.settled.add(index);
    this.failures.push({ index, code, message, retryable, charged });
  }

  async accept(item: ArkItem): Promise<void> {
    const index = this.slot(item.index);
    if (index === null) return; // more items than asked for: never stored, never charged
    if (item.kind === "failed") {
      const k = classifyArkError(undefined, item.code);
      this.fail(index, k.code, k.message, k.retryable);
      if (k.code !== "content_policy_violation") this.stoppedBy ??= this.failures.at(-1)!;
    } else {
      // Items arrive one at a time (each awaited), so the slot cannot be taken meanwhile;
      // an abort mid-download leaves it unsettled for finish() to fail with the stop's code.
      try {
        const img = await materialiseArkImage(item, this.download);
        await this.ctx.onImage({ index, ...img }).catch((err: unknown) => {
          throw new ArkDeliveryError(err);
        });
        this.settled.add(index);
        this.delivered.add(index);
      } catch (err) {
        if (!(err instanceof ArkImageError) || this.download.signal.aborted) throw err;
        this.fail(
          index,
          "service_error",
          "The upstream produced an image that could not be retrieved.",
          false,
          true,
        );
      }
    }
    this.ctx.onProgress(Math.floor((this.settled.size / this.n) * 100));
  }

  /**
   * Settles the rest. `stop` is why the call ended early (null: it ended cleanly and
   * the upstream simply produced fewer images than asked).
   */
  finish(stop: ProviderError | null): GenerateOutcome {
    for (let i = 0; i < this.n; i++) {
      if (this.settled.has(i)) continue;
      const why = stop ?? this.stoppedBy;
      if (why) this.fail(i, why.code, why.message, why.retryable);
      else
        this.fail(
          i,
          "generation_failed_no_content",
          "The upstream produced fewer images than requested.",
          false,
        );
    }
    const failures = this.failures
      .sort((a, b) => a.index - b.index)
      .map(({ index, code, message }) => ({ index, code, message }));
    if (this.delivered.size > 0) return { generated: this.delivered.size, failures };
    if (stop) throw stop;
    // Nothing stored, and the upstream said why: it billed nothing unless it made an
    // image we could not retrieve.
    const first = this.failures[0]!;
    const charged = this.failures.some((f) => f.charged);
    throw new ProviderError(first.code, first.message, first.retryable && !charged, charged);
  }
}
