/**
 * The `ark` provider: Seedream on Volcengine Ark and BytePlus ModelArk (upstreams.md §1).
 *
 *   api.ts        endpoint and headers
 *   channel.ts    per-channel settings and options (watermark, response_format, stream)
 *   request.ts    GenerationRequest → Ark body, field by field
 *   generate.ts   one call: HTTP, SSE or JSON, timeout, cancel
 *   stream.ts     SSE events → typed events
 *   response.ts   JSON answer and error bodies → items
 *   image-set.ts  which of the n images were delivered or failed; the outcome
 *   images.ts     base64 or URL → bytes, probed
 *   errors.ts     status + upstream code → FailureCode, retryable, Retry-After
 *
 * Ark bills every image it generates, so a task interrupted mid-call is never re-run
 * (safeToRepeat false). Ark has no cancel call: aborting ctx.signal disconnects, which
 * frees our side, but the upstream may finish (and bill) the set anyway, so a task is
 * cancellable only until its call starts (canCancel false).
 */
import type { Provider } from "../contract.js";
import { arkChannelProblem } from "./channel.js";
import { generateWithArk, type ArkCallOptions } from "./generate.js";

export type ArkProviderOptions = ArkCallOptions;

export function createArkProvider(opts: ArkProviderOptions = {}): Provider {
  return {
    name: "ark",
    safeToRepeat: false,
    canCancel: false,
    modelParams: ["output_format", "tools"],
    validateChannel(ch) {
      const problem = arkChannelProblem(ch);
      if (problem) throw new Error(`ark channel: ${problem}`);
    },
    generate: (req, ctx) => generateWithArk(req, ctx, opts),
  };
}
