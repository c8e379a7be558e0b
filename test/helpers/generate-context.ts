/** A provider GenerateContext that records what the provider hands over, for sandbox tests. */
import type { GenerateContext, ProducedImage } from "../../src/providers/contract.js";

export function collectingContext(signal = new AbortController().signal): {
  c: GenerateContext;
  images: ProducedImage[];
  progress: number[];
} {
  const images: ProducedImage[] = [];
  const progress: number[] = [];
  const c: GenerateContext = {
    signal,
    onProgress: (p) => progress.push(p),
    onImage: async (img) => void images.push(img),
    referenceImages: [],
    channel: { id: "sandbox", provider: "sandbox", timeoutMs: 1000, options: {} },
  };
  return { c, images, progress };
}
