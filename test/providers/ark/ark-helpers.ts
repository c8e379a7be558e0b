/**
 * Drives the ark provider directly with a small real GenerateContext: images and
 * progress are collected, nothing is mocked on the HTTP side (the emulator is real).
 */
import sharp from "sharp";
import type { GenerationRequest } from "../../../src/core/types.js";
import type {
  GenerateContext,
  GenerateOutcome,
  ProducedImage,
  ReferenceImage,
} from "../../../src/providers/contract.js";
import { ProviderError } from "../../../src/providers/contract.js";
import { createArkProvider } from "../../../src/providers/ark/index.js";
import type { ArkEmulator } from "../../emulators/ark.js";

export function genReq(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    model: "doubao-seedream-4.0",
    prompt: "a serene lake at sunset",
    n: 1,
    size: { kind: "pixels", width: 1024, height: 1024 },
    quality: "2K",
    promptPriority: "standard",
    imageUrls: [],
    callbackUrl: null,
    modelParams: {},
    ...over,
  };
}

export interface Run {
  ctx: GenerateContext;
  images: ProducedImage[];
  progress: number[];
}

export function fakeCtx(
  emu: Pick<ArkEmulator, "url" | "apiKey">,
  over: {
    options?: Record<string, unknown>;
    timeoutMs?: number;
    apiKey?: string;
    upstreamModel?: string;
    referenceImages?: ReferenceImage[];
    signal?: AbortSignal;
  } = {},
): Run {
  const images: ProducedImage[] = [];
  const progress: number[] = [];
  return {
    images,
    progress,
    ctx: {
      signal: over.signal ?? new AbortController().signal,
      onProgress: (p) => progress.push(p),
      async onImage(img) {
        images.push(img);
      },
      referenceImages: over.referenceImages ?? [],
      channel: {
        id: "ark-test",
        provider: "ark",
        baseUrl: emu.url,
        apiKey: over.apiKey ?? emu.apiKey,
        upstreamModel: over.upstreamModel ?? "doubao-seedream-4-0-250828",
        timeoutMs: over.timeoutMs ?? 10_000,
        options: over.options ?? {},
      },
    },
  };
}

export const ark = createArkProvider();

export async function run(
  emu: ArkEmulator,
  req: Partial<GenerationRequest>,
  over: Parameters<typeof fakeCtx>[1] = {},
): Promise<Run & { outcome: GenerateOutcome }> {
  const r = fakeCtx(emu, over);
  const outcome = await ark.generate(genReq(req), r.ctx);
  return { ...r, outcome };
}

/** Runs and expects a ProviderError, returning it. */
export async function runFailing(
  emu: ArkEmulator,
  req: Partial<GenerationRequest>,
  over: Parameters<typeof fakeCtx>[1] = {},
): Promise<ProviderError & { images: ProducedImage[] }> {
  const r = fakeCtx(emu, over);
  try {
    await ark.generate(genReq(req), r.ctx);
  } catch (err) {
    if (err instanceof ProviderError) return Object.assign(err, { images: r.images });
    throw err;
  }
  throw new Error("expected the provider to fail");
}

export async function pngReference(width: number, height: number): Promise<ReferenceImage> {
  const data = await sharp({
    create: { width, height, channels: 3, background: "#c04020" },
  })
    .png()
    .toBuffer();
  return { data, contentType: "image/png", width, height };
}

/** Resolves with the next emulator event of that name matching the predicate. */
export function nextEvent<T>(
  emu: ArkEmulator,
  name: "request" | "disconnect",
  pred: (rec: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emu.events.off(name, on);
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (rec: T) => {
      if (!pred(rec)) return;
      clearTimeout(t);
      emu.events.off(name, on);
      resolve(rec);
    };
    emu.events.on(name, on);
  });
}
