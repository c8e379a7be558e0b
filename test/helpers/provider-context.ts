/**
 * A GenerateContext for driving a provider directly in tests: records images and
 * progress, and lets a test abort the task like the runner does (TaskAbort).
 */
import { BUILTIN_MODELS, ModelCatalogue } from "../../src/core/models.js";
import type { GenerationRequest } from "../../src/core/types.js";
import { validateGenerationRequest } from "../../src/core/validate.js";
import type {
  ChannelSettings,
  GenerateContext,
  ProducedImage,
  ReferenceImage,
} from "../../src/providers/contract.js";
import { TaskAbort } from "../../src/runner/runner.js";

export interface FakeContext extends GenerateContext {
  images: ProducedImage[];
  progress: number[];
  controller: AbortController;
  cancel(): void;
}

export function fakeContext(
  channel: Partial<ChannelSettings> & { provider: string },
  opts: { referenceImages?: ReferenceImage[]; taskId?: string } = {},
): FakeContext {
  const controller = new AbortController();
  const images: ProducedImage[] = [];
  const progress: number[] = [];
  return {
    signal: controller.signal,
    controller,
    images,
    progress,
    referenceImages: opts.referenceImages ?? [],
    ...(opts.taskId ? { taskId: opts.taskId } : {}),
    channel: { id: `${channel.provider}-test`, timeoutMs: 10_000, options: {}, ...channel },
    onProgress: (p) => progress.push(p),
    onImage: async (img) => {
      images.push(img);
    },
    cancel: () => controller.abort(new TaskAbort("cancelled")),
  };
}

const catalogue = new ModelCatalogue(BUILTIN_MODELS);

/** A request as the API would have normalised it (throws on an invalid body). */
export function normalised(body: Record<string, unknown>): GenerationRequest {
  const r = validateGenerationRequest(body, catalogue);
  if (!r.ok) throw new Error(`invalid test request: ${r.error.message}`);
  return r.request;
}
