/**
 * Reference images (`image_urls`): fetched by the runner through the safe fetcher,
 * never in the request path, then checked before any provider sees them:
 *
 *   fetch (safe fetcher: SSRF rules, ≤ maxReferenceBytes, timeouts)
 *     → format by magic number (jpeg, png, webp, bmp, tiff, gif)
 *     → dimensions from the header only (sharp metadata; our own BMP header reader)
 *     → width and height > 14, ≤ 36,000,000 px, aspect within [1/16, 16]
 *     → decode once with sharp's limitInputPixels (proves the pixels are there;
 *       a decompression bomb is refused before any large allocation)
 *     → BMP converted to PNG (libvips cannot read BMP, providers may not either)
 *
 * Any failure throws ProviderError("image_processing_error") with one sentence naming
 * the image by position (`image_urls[2]`) and the reason, nothing internal; the
 * pipeline's normal failed path refunds the task. Images are fetched concurrently
 * (a small limit) and the first failure cancels the rest.
 */
import { setImmediate } from "node:timers/promises";
import sharp from "sharp";
import { ProviderError } from "../core/provider-error.js";
import type { ReferenceImage } from "../core/types.js";
import { OutboundError, type SafeClient } from "../net/safe-request.js";
import {
  bmpDecoder,
  BmpError,
  type BmpDecoder,
  FORMAT_CONTENT_TYPES,
  readBmpHeader,
  sniffImageFormat,
  type ImageFormat,
} from "./image-format.js";
import type { OwnImageSource } from "./uploads.js";

export interface ReferenceLimits {
  maxBytes: number;
  /** Both sides must be strictly greater than this. */
  minSideExclusive: number;
  maxPixels: number;
  maxAspect: number;
}

export const DEFAULT_REFERENCE_LIMITS: ReferenceLimits = {
  maxBytes: 10 * 1024 * 1024,
  minSideExclusive: 14,
  maxPixels: 36_000_000,
  maxAspect: 16,
};

export type ReferenceLoader = (
  task: { model: string; imageUrls: string[] },
  signal: AbortSignal,
) => Promise<ReferenceImage[]>;

export interface ReferenceLoaderOptions {
  client: SafeClient;
  /** Per-model byte limit (ModelSpec.maxReferenceBytes); default 10 MB. */
  maxBytesFor?: (model: string) => number | undefined;
  /** Images fetched at once per task. Default 3. */
  concurrency?: number;
  /** Per image, redirects and body included. Default 30 s. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Links to this Darkroom's own uploads: read from storage instead of fetched. */
  ownImages?: OwnImageSource;
}

const FORMAT_LIST = "jpeg, png, webp, bmp, tiff or gif";

function imageError(label: string, why: string): ProviderError {
  return new ProviderError("image_processing_error", `${label} ${why}.`, false);
}

function formatMB(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb} MB` : `${bytes} bytes`;
}

/** Checks dimensions read from a header, before any decode. */
function checkDimensions(
  label: string,
  width: number,
  height: number,
  limits: ReferenceLimits,
): void {
  if (!(width > 0 && height > 0)) throw imageError(label, "has invalid dimensions");
  if (width <= limits.minSideExclusive || height <= limits.minSideExclusive)
    throw imageError(
      label,
      `is ${width}x${height} pixels; both sides must be larger than ${limits.minSideExclusive} pixels`,
    );
  if (width * height > limits.maxPixels)
    throw imageError(
      label,
      `is ${width}x${height} pixels; at most ${limits.maxPixels.toLocaleString("en-US")} pixels are allowed`,
    );
  if (width / height > limits.maxAspect || height / width > limits.maxAspect)
    throw imageError(
      label,
      `is ${width}x${height} pixels; its aspect ratio must be between 1:${limits.maxAspect} and ${limits.maxAspect}:1`,
    );
}

/**
 * Validates one downloaded image (`label` is how the user names it, e.g.
 * "image_urls[2]") and returns what providers receive. Pure CPU work, no network.
 */
export async function checkReferenceImage(
  data: Buffer,
  label: string,
  limits: ReferenceLimits = DEFAULT_REFERENCE_LIMITS,
): Promise<ReferenceImage> {
  if (data.length > limits.maxBytes)
    throw imageError(label, `is larger than ${formatMB(limits.maxBytes)}`);
  const format = sniffImageFormat(data);
  if (!format) throw imageError(label, `is not an image in a supported format (${FORMAT_LIST})`);
  if (format === "bmp") return convertBmp(data, label, limits);

  let width: number;
  let height: number;
  try {
    // Header only: libvips reads dimensions without decoding pixels.
    const meta = await sharp(data, { limitInputPixels: false }).metadata();
    // libvips must agree with the magic number (no polyglot picking another loader).
    if (meta.format !== format) throw new Error("format mismatch");
    width = meta.width ?? 0;
    height = meta.pageHeight ?? meta.height ?? 0;
  } catch {
    throw imageError(label, `could not be read as ${article(format)} image`);
  }
  checkDimensions(label, width, height, limits);
  try {
    // One bounded decode (shrunk on load where the format allows): a truncated or
    // corrupt image fails here rather than inside a provider.
    await sharp(data, { limitInputPixels: limits.maxPixels, failOn: "error" })
      .resize(64, 64, { fit: "inside" })
      .raw()
      .toBuffer();
  } catch {
    throw imageError(label, `could not be decoded as ${article(format)} image`);
  }
  return { data, contentType: FORMAT_CONTENT_TYPES[format], width, height };
}

function article(format: ImageFormat): string {
  const name = format.toUpperCase();
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}

async function convertBmp(
  data: Buffer,
  label: string,
  limits: ReferenceLimits,
): Promise<ReferenceImage> {
  let header;
  try {
    header = readBmpHeader(data);
  } catch {
    throw imageError(label, "could not be read as a BMP image");
  }
  checkDimensions(label, header.width, header.height, limits);
  // One BMP conversion at a time per process: its raw pixels are the one large
  // allocation this module makes (up to maxPixels × 4 bytes).
  const release = await bmpTurn();
  try {
    let decoder: BmpDecoder;
    try {
      decoder = bmpDecoder(data);
    } catch (err) {
      if (err instanceof BmpError && /unsupported/.test(err.message))
        throw imageError(label, "is a BMP variant that is not supported (use an uncompressed BMP)");
      throw imageError(label, "could not be decoded as a BMP image");
    }
    // Pixel loops run in slices so the event loop keeps answering polls meanwhile.
    const rowsPerSlice = Math.max(1, Math.floor(250_000 / decoder.width));
    for (let y = 0; y < decoder.height; y += rowsPerSlice) {
      decoder.decodeRows(y, y + rowsPerSlice);
      await setImmediate();
    }
    const { width, height, channels } = decoder;
    const png = await sharp(decoder.data, {
      raw: { width, height, channels },
      limitInputPixels: limits.maxPixels,
    })
      .png({ compressionLevel: 6 })
      .toBuffer();
    return { data: png, contentType: "image/png", width, height };
  } finally {
    release();
  }
}

let bmpQueue: Promise<void> = Promise.resolve();
function bmpTurn(): Promise<() => void> {
  let release!: () => void;
  const turn = new Promise<void>((r) => (release = r));
  const ready = bmpQueue.then(() => release);
  bmpQueue = bmpQueue.then(() => turn);
  return ready;
}

function fetchFailure(label: string, err: OutboundError): ProviderError {
  return imageError(label, `could not be fetched: ${err.clause}`);
}

export function createReferenceLoader(opts: ReferenceLoaderOptions): ReferenceLoader {
  const concurrency = Math.max(1, opts.concurrency ?? 3);
  return async (task, signal) => {
    if (task.imageUrls.length === 0) return [];
    const limits: ReferenceLimits = {
      ...DEFAULT_REFERENCE_LIMITS,
      maxBytes: opts.maxBytesFor?.(task.model) ?? DEFAULT_REFERENCE_LIMITS.maxBytes,
    };
    // The first failure (or the task's own abort) stops the other downloads.
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });

    const results: ReferenceImage[] = new Array(task.imageUrls.length);
    let next = 0;
    let failure: unknown = null;
    const worker = async () => {
      while (failure === null && next < task.imageUrls.length) {
        const i = next++;
        const label = `image_urls[${i}]`;
        try {
          const url = task.imageUrls[i]!;
          let body: Buffer;
          if (opts.ownImages?.recognises(url)) {
            const own = await opts.ownImages.read(url, limits.maxBytes);
            if (!own)
              throw imageError(label, "is an uploaded file that has expired or been deleted");
            body = own;
          } else {
            const res = await opts.client.request(url, {
              maxBytes: limits.maxBytes,
              timeoutMs: opts.timeoutMs ?? 30_000,
              connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
              signal: stop.signal,
              throwOnHttpError: true,
              headers: { accept: "image/*" },
            });
            body = res.body;
          }
          results[i] = await checkReferenceImage(body, label, limits);
        } catch (err) {
          if (failure !== null) return;
          if (err instanceof OutboundError && err.reason === "too_large")
            failure = imageError(label, `is larger than ${formatMB(limits.maxBytes)}`);
          else if (err instanceof OutboundError) failure = fetchFailure(label, err);
          else failure = err;
          stop.abort(failure);
        }
      }
    };
    try {
      await Promise.all(
        Array.from({ length: Math.min(concurrency, task.imageUrls.length) }, worker),
      );
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    // A cancelled task reports its own abort, not a download error caused by it.
    if (signal.aborted) throw signal.reason;
    if (failure !== null) throw failure;
    return results;
  };
}
