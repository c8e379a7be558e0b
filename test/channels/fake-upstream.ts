/**
 * A scripted fake upstream registered as a test provider (startDarkroom's
 * `extraProviders` hook), so routing can be tested before the real adapters exist.
 * Each channel id gets a queue of steps (then a default step); the fake records
 * every call and the most calls each channel ever had in flight at once.
 */
import type { FailureCode } from "../../src/core/types.js";
import {
  ProviderError,
  type ChannelSettings,
  type GenerateContext,
  type Provider,
} from "../../src/providers/contract.js";

export type Step =
  | {
      kind: "ok";
      delayMs?: number;
      images?: number;
      /** Held until this settles (a test decides when the upstream answers). */
      until?: Promise<unknown>;
    }
  | {
      kind: "error";
      code: FailureCode;
      retryable: boolean;
      mayHaveCharged?: boolean;
      retryAfterMs?: number;
      /** Images handed over before the error. */
      afterImages?: number;
      delayMs?: number;
    }
  | { kind: "hang" };

export interface FakeCall {
  channel: string;
  prompt: string;
  apiKey: string | undefined;
  upstreamModel: string | undefined;
}

// A 1×1 PNG: the runner stores bytes as given.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

export class FakeUpstream {
  readonly calls: FakeCall[] = [];
  readonly maxInFlight = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly queues = new Map<string, Step[]>();
  private readonly defaults = new Map<string, Step>();

  /** Steps for the next calls on a channel, in order; then its default (ok). */
  script(channel: string, ...steps: Step[]): this {
    this.queues.set(channel, [...(this.queues.get(channel) ?? []), ...steps]);
    return this;
  }

  always(channel: string, step: Step): this {
    this.defaults.set(channel, step);
    this.queues.delete(channel);
    return this;
  }

  callsTo(channel: string): number {
    return this.calls.filter((c) => c.channel === channel).length;
  }

  channelsFor(prompt: string): string[] {
    return this.calls.filter((c) => c.prompt === prompt).map((c) => c.channel);
  }

  provider(name: string, opts: { canCancel: boolean; safeToRepeat?: boolean }): Provider {
    return {
      name,
      safeToRepeat: opts.safeToRepeat ?? false,
      canCancel: opts.canCancel,
      generate: (req, ctx) => this.generate(req.prompt, req.n, ctx),
    };
  }

  private next(ch: ChannelSettings): Step {
    const q = this.queues.get(ch.id);
    if (q && q.length > 0) return q.shift()!;
    return this.defaults.get(ch.id) ?? { kind: "ok", delayMs: 20 };
  }

  private async generate(prompt: string, n: number, ctx: GenerateContext) {
    const ch = ctx.channel;
    this.calls.push({ channel: ch.id, prompt, apiKey: ch.apiKey, upstreamModel: ch.upstreamModel });
    const now = (this.inFlight.get(ch.id) ?? 0) + 1;
    this.inFlight.set(ch.id, now);
    this.maxInFlight.set(ch.id, Math.max(now, this.maxInFlight.get(ch.id) ?? 0));
    try {
      const step = this.next(ch);
      if (step.kind === "hang") {
        await sleep(3_600_000, ctx.signal);
        throw new Error("unreachable");
      }
      ctx.onProgress(30);
      if (step.kind === "ok" && step.until) await held(step.until, ctx.signal);
      await sleep(step.delayMs ?? 20, ctx.signal);
      const count = step.kind === "ok" ? (step.images ?? n) : (step.afterImages ?? 0);
      for (let i = 0; i < count; i++) {
        await ctx.onImage({ index: i, data: PNG, contentType: "image/png", width: 1, height: 1 });
      }
      if (step.kind === "error") {
        throw new ProviderError(
          step.code,
          `The fake upstream failed with ${step.code}.`,
          step.retryable,
          step.mayHaveCharged ?? false,
          step.retryAfterMs,
        );
      }
      return { generated: count, failures: [] };
    } finally {
      this.inFlight.set(ch.id, (this.inFlight.get(ch.id) ?? 1) - 1);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function held(until: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    void until.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
