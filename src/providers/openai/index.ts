/**
 * The `openai` provider: OpenAI's Images API and the many servers that copy it.
 * `POST /v1/images/generations` (JSON), or `POST /v1/images/edits` (multipart,
 * `image[]`) when the task has reference images. Synchronous: the answer carries the
 * images, as base64 (`b64_json`) or as links downloaded at once.
 *
 * Not safe to repeat: a call that reached OpenAI may have been billed, so a task
 * interrupted mid-call is failed and refunded rather than run twice.
 */
import { FormData } from "undici";
import type { GenerationRequest } from "../../core/types.js";
import {
  ProviderError,
  type GenerateContext,
  type GenerateOutcome,
  type Provider,
  type ReferenceImage,
} from "../contract.js";
import {
  BadImageError,
  CallScope,
  callUpstream,
  downloadImage,
  probeImage,
  transportError,
  UpstreamTransportError,
} from "../upstream-http.js";
import { imageNotProduced, noImageProduced, unreadableAnswer } from "../upstream-faults.js";
import { authHeaders, endpointUrl, familyOf } from "./api.js";
import { mapOpenAIError } from "./errors.js";
import { buildCall, imagesPerCall, parseImagesResponse, type ResponseItem } from "./request.js";

export interface OpenAIProviderOptions {
  /** Cap on one JSON answer (base64 images inside): default 200 MB. */
  maxResponseBytes?: number;
  /** Cap on one downloaded image: default 50 MB. */
  maxImageBytes?: number;
}

const EXT: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
};

export function createOpenAIProvider(opts: OpenAIProviderOptions = {}): Provider {
  const maxResponseBytes = opts.maxResponseBytes ?? 200 * 1024 * 1024;
  const maxImageBytes = opts.maxImageBytes ?? 50 * 1024 * 1024;

  /** One call to the upstream for `n` images; returns their items (not yet decoded). */
  async function call(
    scope: CallScope,
    req: GenerationRequest,
    ctx: GenerateContext,
    n: number,
  ): Promise<ResponseItem[]> {
    const refs = ctx.referenceImages;
    const c = buildCall(req, ctx.channel, n, refs.length > 0);
    const headers = authHeaders(ctx.channel);
    let body: string | FormData;
    if (c.endpoint === "edits") {
      body = multipart(c.fields, c.imageField, refs);
    } else {
      body = JSON.stringify(c.fields);
      headers["content-type"] = "application/json";
    }
    let res;
    try {
      res = await callUpstream(scope, {
        method: "POST",
        url: endpointUrl(ctx.channel, c.endpoint),
        headers,
        body,
        maxBytes: maxResponseBytes,
      });
    } catch (err) {
      if (err instanceof UpstreamTransportError) throw transportError(err);
      throw err;
    }
    if (res.status !== 200) throw mapOpenAIError(res.status, res.body, res.headers);
    const items = parseImagesResponse(res.body);
    if (!items) throw unreadableAnswer();
    return items.slice(0, n);
  }

  async function decode(
    scope: CallScope,
    item: ResponseItem,
  ): Promise<{ data: Buffer; contentType: string; width: number; height: number }> {
    const bad = () =>
      new ProviderError(
        "service_error",
        "The image service sent an image that could not be read.",
        true,
        true,
      );
    if ("b64" in item) {
      const data = Buffer.from(item.b64, "base64");
      const probed = probeImage(data);
      if (!probed) throw bad();
      return { data, ...probed };
    }
    try {
      return await downloadImage(scope, item.url, maxImageBytes);
    } catch (err) {
      if (err instanceof BadImageError) throw bad();
      if (err instanceof UpstreamTransportError) throw transportError(err, true);
      throw err;
    }
  }

  return {
    name: "openai",
    safeToRepeat: false,
    modelParams: ["output_format", "background", "output_compression", "moderation"],
    validateChannel(channel) {
      const f = channel.options.response_format;
      if (f !== undefined && f !== "url" && f !== "b64_json")
        throw new Error('openai: options.response_format must be "url" or "b64_json"');
    },
    async generate(req: GenerationRequest, ctx: GenerateContext): Promise<GenerateOutcome> {
      const scope = new CallScope(ctx.signal, ctx.channel.timeoutMs);
      const family = familyOf(ctx.channel.upstreamModel ?? req.model);
      if (ctx.referenceImages.length > 0 && family === "dall-e-3")
        throw new ProviderError(
          "service_unavailable",
          "This channel's model cannot edit reference images.",
          true,
        );
      const perCall = imagesPerCall(family);
      const failures: GenerateOutcome["failures"] = [];
      let generated = 0;
      while (generated < req.n) {
        const want = Math.min(perCall, req.n - generated);
        let items: ResponseItem[];
        try {
          items = await call(scope, req, ctx, want);
        } catch (err) {
          // A later call failing keeps what earlier calls delivered (and were billed for).
          if (generated === 0 || !(err instanceof ProviderError)) throw err;
          for (let i = generated; i < req.n; i++)
            failures.push({ index: i, code: err.code, message: err.message });
          break;
        }
        for (const item of items) {
          const img = await decode(scope, item);
          scope.throwIfAborted();
          await ctx.onImage({ index: generated, ...img });
          generated++;
          ctx.onProgress(Math.floor((generated / req.n) * 100));
        }
        // Fewer than asked: the upstream withheld the rest; asking again could bill twice.
        if (items.length < want) break;
      }
      if (generated === 0) throw noImageProduced();
      if (failures.length === 0)
        for (let i = generated; i < req.n; i++) failures.push(imageNotProduced(i));
      return { generated, failures };
    },
  };
}

function multipart(
  fields: Record<string, string | number>,
  imageField: string,
  refs: ReferenceImage[],
): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, String(v));
  refs.forEach((r, i) => {
    const blob = new Blob([r.data], { type: r.contentType });
    form.append(imageField, blob, `image-${i}.${EXT[r.contentType] ?? "png"}`);
  });
  return form;
}
