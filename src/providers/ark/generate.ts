/**
 * One Ark call, start to finish:
 *
 *   POST ─► HTTP error ──────────────► throw (classified; nothing billed, maybe retryable)
 *     │
 *     ├─► 200 SSE: each partial event ─► image set (stored at once, progress = done / n)
 *     │     ├─ [DONE] / completed ────► clean end
 *     │     ├─ `error` event ─────────► stop with its class
 *     │     └─ body ends early ───────► stop: service_error (may have charged)
 *     ├─► 200 JSON: data[] ───────────► image set
 *     └─► timeout / reset / garbage ──► stop (may have charged, never repeated)
 *
 * A stop with images delivered returns them (charged) and fails the rest; with none
 * it throws. Cancellation and lease loss (ctx.signal) abort the HTTP request: Ark has
 * no cancel call, disconnecting is how a synchronous generation is abandoned.
 * One timer per call enforces the channel's timeoutMs over the whole exchange.
 */
import { request, type Dispatcher } from "undici";
import type { GenerationRequest } from "../../core/types.js";
import { ProviderError, type GenerateContext, type GenerateOutcome } from "../contract.js";
import { arkHeaders, arkImagesUrl } from "./api.js";
import { readArkChannel, type ArkChannel } from "./channel.js";
import {
  ArkProtocolError,
  arkHttpError,
  arkProtocolError,
  arkTransportError,
  classifyArkError,
} from "./errors.js";
import { ArkDeliveryError, ArkImageSet } from "./image-set.js";
import { buildArkBody } from "./request.js";
import { arkErrorCode, parseArkResult } from "./response.js";
import { readArkStream } from "./stream.js";

export interface ArkCallOptions {
  /** undici dispatcher for upstream calls (benchmarks, proxies); the global one if unset. */
  dispatcher?: Dispatcher;
}

const ERROR_BODY_CAP = 64 * 1024;
/** Room for the JSON around one base64 image (base64 is 4/3 of the bytes). */
const perImageWire = (maxImageBytes: number) => Math.ceil((maxImageBytes * 4) / 3) + 64 * 1024;

type Ending =
  | { kind: "clean" }
  | { kind: "refused"; error: ProviderError }
  | { kind: "stopped"; error: ProviderError };

function cancelled(signal: AbortSignal): unknown {
  return signal.reason instanceof Error
    ? signal.reason
    : new ProviderError("request_cancelled", "The task was cancelled.", false);
}

async function readCapped(body: AsyncIterable<Uint8Array>, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > cap) throw new ArkProtocolError("the response is too large");
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, total);
}

async function exchange(
  req: GenerationRequest,
  ch: ArkChannel,
  body: string,
  set: ArkImageSet,
  signal: AbortSignal,
  opts: ArkCallOptions,
): Promise<Ending> {
  const res = await request(arkImagesUrl(ch.baseUrl), {
    method: "POST",
    headers: arkHeaders(ch.apiKey, ch.stream),
    body,
    signal,
    // The call's own deadline (one timer, below) bounds both phases.
    headersTimeout: 0,
    bodyTimeout: 0,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
  if (res.statusCode !== 200) {
    let text = "";
    try {
      text = (await readCapped(res.body, ERROR_BODY_CAP)).toString("utf8");
    } catch {
      res.body.destroy();
    }
    const retryAfter = res.headers["retry-after"];
    return {
      kind: "refused",
      error: arkHttpError(
        res.statusCode,
        arkErrorCode(text),
        Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      ),
    };
  }

  const type = String(res.headers["content-type"] ?? "");
  if (type.includes("text/event-stream")) {
    let completed = false;
    for await (const ev of readArkStream(res.body, perImageWire(ch.maxImageBytes))) {
      if (ev.kind === "item") await set.accept(ev.item);
      else if (ev.kind === "completed") completed = true;
      else if (ev.kind === "done") return { kind: "clean" };
      else {
        const k = classifyArkError(undefined, ev.code);
        return { kind: "stopped", error: new ProviderError(k.code, k.message, k.retryable, false) };
      }
    }
    // `completed` without `[DONE]` is complete enough; neither means the stream was cut.
    if (completed) return { kind: "clean" };
    return { kind: "stopped", error: arkTransportError(new Error("stream cut"), false) };
  }

  const text = await readCapped(res.body, perImageWire(ch.maxImageBytes) * req.n);
  const result = parseArkResult(text.toString("utf8"));
  if (!result) {
    // An error body behind a 200 is still an answer: the upstream refused, billed nothing.
    const code = arkErrorCode(text.toString("utf8"));
    if (!code) return { kind: "stopped", error: arkProtocolError() };
    const k = classifyArkError(undefined, code);
    return { kind: "stopped", error: new ProviderError(k.code, k.message, k.retryable, false) };
  }
  for (const item of result.items) await set.accept(item);
  return { kind: "clean" };
}

export async function generateWithArk(
  req: GenerationRequest,
  ctx: GenerateContext,
  opts: ArkCallOptions = {},
): Promise<GenerateOutcome> {
  const ch = readArkChannel(ctx.channel);
  const body = JSON.stringify(buildArkBody(req, ch, ctx.referenceImages));
  if (ctx.signal.aborted) throw cancelled(ctx.signal);

  const call = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    call.abort();
  }, ch.timeoutMs);
  const onAbort = () => call.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const set = new ArkImageSet(req.n, ctx, {
    maxBytes: ch.maxImageBytes,
    signal: call.signal,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });

  let ending: Ending | null = null;
  try {
    ending = await exchange(req, ch, body, set, call.signal, opts);
  } catch (err) {
    if (ctx.signal.aborted) throw cancelled(ctx.signal);
    if (err instanceof ArkDeliveryError) throw err.original;
    const error =
      err instanceof ArkProtocolError ? arkProtocolError() : arkTransportError(err, timedOut);
    ending = { kind: "stopped", error };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
    // Releases a body we stopped reading early. A clean ending read it all, and an
    // abort builds an exception and runs every listener: not for nothing, per task.
    if (ending?.kind !== "clean") call.abort();
  }
  if (ending.kind === "refused") throw ending.error;
  return set.finish(ending.kind === "stopped" ? ending.error : null);
}
