/**
 * The built-in `sandbox` provider: placeholder images rendered locally, clearly
 * labelled, after a simulated duration with progress. It costs nothing upstream, so a
 * task interrupted by a crash may simply run again (safeToRepeat).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { GenerationRequest } from "../../core/types.js";
import {
  ProviderError,
  type GenerateContext,
  type GenerateOutcome,
  type Provider,
} from "../contract.js";
import { parseSandboxDirectives } from "./directives.js";
import { renderSandboxImage, SANDBOX_CONTENT_TYPES, sandboxFormat } from "./render.js";

const STEPS_PER_IMAGE = 4;

export function createSandboxProvider(opts: { durationMs: number }): Provider {
  return {
    name: "sandbox",
    safeToRepeat: true,
    canCancel: true,
    async generate(req: GenerationRequest, ctx: GenerateContext): Promise<GenerateOutcome> {
      const d = parseSandboxDirectives(req.prompt);
      const duration = d.delayMs ?? opts.durationMs;
      const produce = Math.min(req.n, d.generate ?? req.n);
      const perStep = duration / Math.max(1, req.n) / STEPS_PER_IMAGE;
      const wait = async (ms: number) => {
        try {
          await sleep(ms, undefined, { signal: ctx.signal });
        } catch {
          throw ctx.signal.reason instanceof Error
            ? ctx.signal.reason
            : new ProviderError("request_cancelled", "The task was cancelled.", false);
        }
      };
      const report = (done: number) =>
        ctx.onProgress(Math.min(99, Math.floor((done / (req.n * STEPS_PER_IMAGE)) * 100)));

      if (d.fail) {
        await wait(duration);
        throw new ProviderError(
          d.fail,
          `The sandbox failed this task on request (${d.fail}).`,
          false,
        );
      }
      const references = ctx.referenceImages.map((r) => ({
        data: r.data,
        width: r.width,
        height: r.height,
      }));
      const format = sandboxFormat(req.modelParams.output_format, req.size.width, req.size.height);
      let steps = 0;
      for (let i = 0; i < produce; i++) {
        for (let s = 0; s < STEPS_PER_IMAGE; s++) {
          await wait(perStep);
          report(++steps);
        }
        let data: Buffer;
        try {
          data = await renderSandboxImage({
            prompt: req.prompt,
            index: i,
            total: req.n,
            width: req.size.width,
            height: req.size.height,
            model: req.model,
            references,
            format,
            signal: ctx.signal,
          });
        } catch (err) {
          // Aborted while waiting for a render slot: report it like any other abort.
          if (ctx.signal.aborted) await wait(0);
          throw err;
        }
        if (ctx.signal.aborted) await wait(0);
        await ctx.onImage({
          index: i,
          data,
          contentType: SANDBOX_CONTENT_TYPES[format],
          width: req.size.width,
          height: req.size.height,
        });
      }
      const failures = [];
      for (let i = produce; i < req.n; i++) {
        failures.push({
          index: i,
          code: "content_policy_violation" as const,
          message: `The sandbox withheld image ${i + 1} on request.`,
        });
      }
      return { generated: produce, failures };
    },
  };
}
