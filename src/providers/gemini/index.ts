/**
 * The `gemini` provider: Google's Gemini image models through generateContent
 * (docs/providers.md#gemini). One call asks for one image, so n images are n calls,
 * one after another, each with the prompt and the reference images (inline, base64;
 * the runner has already read them through the safe fetcher). Each answer carries its
 * image inline (base64), handed over as bytes for our storage.
 *
 *   api.ts       endpoint and the x-goog-api-key header
 *   channel.ts   per-channel settings (base URL, model id, API version)
 *   request.ts   GenerationRequest → generateContent body, field by field
 *   response.ts  answer → images, a blocked prompt, or no image and why
 *   errors.ts    status, reason and finishReason → FailureCode, retryable, retry delay
 *
 * Billing: Google bills every call that answers 200 (an image or not); we charge per
 * image delivered. A call that gets no image after others succeeded is a per-image
 * failure, and the next image is still asked for; an HTTP or transport failure after
 * some images ends the set with what was delivered. Not safe to repeat (a call that
 * reached Google may have been billed) and not cancellable once a call started
 * (generateContent has no cancel: disconnecting does not stop Google's work).
 */
import type { GenerationRequest } from "../../core/types.js";
import {
  ProviderError,
  type GenerateContext,
  type GenerateOutcome,
  type Provider,
} from "../contract.js";
import {
  CallScope,
  callUpstream,
  probeImage,
  transportError,
  UpstreamTransportError,
} from "../upstream-http.js";
import { unreadableAnswer } from "../upstream-faults.js";
import { generateContentUrl, geminiHeaders } from "./api.js";
import { geminiChannelProblem, readGeminiChannel, type GeminiChannel } from "./channel.js";
import { contentBlocked, mapGeminiError, noImageError } from "./errors.js";
import { buildGeminiBody } from "./request.js";
import { parseGenerateContent } from "./response.js";

export interface GeminiProviderOptions {
  /** Cap on one JSON answer (a base64 image inside): default 100 MB. */
  maxResponseBytes?: number;
}

interface DecodedImage {
  data: Buffer;
  contentType: string;
  width: number;
  height: number;
}

export function createGeminiProvider(opts: GeminiProviderOptions = {}): Provider {
  const maxResponseBytes = opts.maxResponseBytes ?? 100 * 1024 * 1024;

  /** One generateContent call: its images (decoded and probed), or a ProviderError thrown. */
  async function call(scope: CallScope, ch: GeminiChannel, body: string): Promise<DecodedImage[]> {
    let res;
    try {
      res = await callUpstream(scope, {
        method: "POST",
        url: generateContentUrl(ch.baseUrl, ch.apiVersion, ch.upstreamModel),
        headers: geminiHeaders(ch.apiKey),
        body,
        maxBytes: maxResponseBytes,
      });
    } catch (err) {
      if (err instanceof UpstreamTransportError) throw transportError(err);
      throw err;
    }
    if (res.status !== 200) throw mapGeminiError(res.status, res.body, res.headers);
    const result = parseGenerateContent(res.body);
    if (!result) throw unreadableAnswer();
    if (result.kind === "blocked") throw contentBlocked();
    if (result.kind === "no_image") throw noImageError(result.finishReason);
    return result.images.map((img) => {
      const data = Buffer.from(img.data, "base64");
      const probed = data.length <= ch.maxImageBytes ? probeImage(data) : null;
      if (!probed)
        throw new ProviderError(
          "service_error",
          "The image service sent an image that could not be read.",
          true,
          true,
        );
      return { data, ...probed };
    });
  }

  return {
    name: "gemini",
    safeToRepeat: false,
    canCancel: false,
    // generateContent has no per-model extras: the prompt and imageConfig are all.
    modelParams: [],
    validateChannel(ch) {
      const problem = geminiChannelProblem(ch);
      if (problem) throw new Error(`gemini channel: ${problem}`);
    },
    async generate(req: GenerationRequest, ctx: GenerateContext): Promise<GenerateOutcome> {
      const ch = readGeminiChannel(ctx.channel, req.model);
      const scope = new CallScope(ctx.signal, ch.timeoutMs);
      // The same body for every call: the reference images are encoded once.
      const body = JSON.stringify(buildGeminiBody(req, ctx.referenceImages));
      const failures: GenerateOutcome["failures"] = [];
      let generated = 0;
      for (let index = 0; index < req.n; index++) {
        let images: DecodedImage[];
        try {
          images = await call(scope, ch, body);
        } catch (err) {
          if (!(err instanceof ProviderError)) throw err;
          // Nothing delivered yet: the task fails as a whole (and may fail over).
          if (generated === 0) throw err;
          failures.push({ index, code: err.code, message: err.message });
          // A call that answered without an image concerns that image only; an error
          // answer or a broken connection ends the set (asking again could bill twice).
          if (
            err.code === "content_policy_violation" ||
            err.code === "generation_failed_no_content"
          )
            continue;
          for (let i = index + 1; i < req.n; i++)
            failures.push({ index: i, code: err.code, message: err.message });
          break;
        }
        // One image per call is what we asked; a model that sends more gives us its first.
        const img = images[0]!;
        scope.throwIfAborted();
        await ctx.onImage({ index, ...img });
        generated++;
        ctx.onProgress(Math.floor(((index + 1) / req.n) * 100));
      }
      return { generated, failures };
    },
  };
}
