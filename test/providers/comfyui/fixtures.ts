/** Shared helpers for the comfyui tests: templates, a request and a fake GenerateContext. */
import type { GenerationRequest } from "../../../src/core/types.js";
import type {
  GenerateContext,
  ProducedImage,
  ReferenceImage,
} from "../../../src/providers/contract.js";

/** A text-to-image workflow as ComfyUI's "Save (API)" exports it, with placeholders. */
export function txt2img(opts: { batch?: boolean } = {}): Record<string, unknown> {
  return {
    "4": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "sdxl.safetensors" } },
    "5": {
      class_type: "EmptyLatentImage",
      inputs: {
        width: "{{width}}",
        height: "{{height}}",
        batch_size: opts.batch === false ? 1 : "{{batch_size}}",
      },
    },
    "6": { class_type: "CLIPTextEncode", inputs: { text: "{{prompt}}", clip: ["4", 1] } },
    "7": { class_type: "CLIPTextEncode", inputs: { text: "{{negative_prompt}}", clip: ["4", 1] } },
    "3": {
      class_type: "KSampler",
      inputs: {
        seed: "{{seed}}",
        steps: 6,
        cfg: 7,
        sampler_name: "euler",
        scheduler: "normal",
        denoise: 1,
        model: ["4", 0],
        positive: ["6", 0],
        negative: ["7", 0],
        latent_image: ["5", 0],
      },
    },
    "8": { class_type: "VAEDecode", inputs: { samples: ["3", 0], vae: ["4", 2] } },
    "9": { class_type: "SaveImage", inputs: { filename_prefix: "darkroom", images: ["8", 0] } },
  };
}

/**
 * txt2img whose seed never reaches the image: a fixed seed in the sampler, and the
 * `{{seed}}` placeholder only in a dangling node (when `dangling`). ComfyUI serves a
 * repeat of it from its cache.
 */
export function fixedSeed(opts: { dangling?: boolean } = {}): Record<string, unknown> {
  const g = txt2img({ batch: false });
  (g["3"] as { inputs: Record<string, unknown> }).inputs.seed = 42;
  if (opts.dangling)
    g["12"] = { class_type: "CLIPTextEncode", inputs: { text: "{{seed}}", clip: ["4", 1] } };
  return g;
}

/**
 * txt2img plus a second output whose LoadImage names a file that was never uploaded:
 * ComfyUI refuses that output and runs the other (HTTP 200 with node_errors).
 */
export function halfInvalid(): Record<string, unknown> {
  return {
    ...txt2img(),
    "20": { class_type: "LoadImage", inputs: { image: "never-uploaded.png" } },
    "21": { class_type: "SaveImage", inputs: { filename_prefix: "side", images: ["20", 0] } },
  };
}

/** txt2img plus a LoadImage node fed by the first reference image. */
export function withReference(): Record<string, unknown> {
  return {
    ...txt2img(),
    "10": { class_type: "LoadImage", inputs: { image: "{{image_1}}" } },
    "11": { class_type: "VAEEncode", inputs: { pixels: ["10", 0], vae: ["4", 2] } },
  };
}

export function request(prompt: string, n = 1, width = 640, height = 384): GenerationRequest {
  return {
    model: "doubao-seedream-4.0",
    prompt,
    n,
    size: { kind: "pixels", width, height },
    quality: "1K",
    promptPriority: "standard",
    imageUrls: [],
    callbackUrl: null,
    modelParams: {},
  };
}

export function fakeContext(opts: {
  baseUrl: string;
  options: Record<string, unknown>;
  timeoutMs?: number;
  signal?: AbortSignal;
  referenceImages?: ReferenceImage[];
}) {
  const images: ProducedImage[] = [];
  const progress: number[] = [];
  const ctx: GenerateContext = {
    signal: opts.signal ?? new AbortController().signal,
    onProgress: (p) => progress.push(p),
    onImage: async (img) => {
      images.push(img);
    },
    referenceImages: opts.referenceImages ?? [],
    channel: {
      id: "comfy-test",
      provider: "comfyui",
      baseUrl: opts.baseUrl,
      timeoutMs: opts.timeoutMs ?? 20_000,
      options: opts.options,
    },
  };
  return { ctx, images, progress };
}

/** Polls `check` until it returns true, or fails after `ms`. */
export async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
