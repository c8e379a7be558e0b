/**
 * The `comfyui` provider: an operator's own GPU running ComfyUI. Per task:
 *
 *   upload reference images ─► open /ws ─► for each prompt (one with {{batch_size}} = n,
 *   else n in turn): fill the template ─► POST /prompt ─► wait (ws, /history fallback)
 *   ─► download each output (/view) ─► ctx.onImage
 *
 * A cancel (ctx.signal) or the channel's time limit removes the prompt from ComfyUI's
 * queue, or interrupts it if it is already running, so the GPU is freed either way.
 * Not safe to repeat after a crash: the GPU may already be working on the prompt.
 *
 * Two answers of a real ComfyUI that look like success but are not:
 * - Partial validation: when only some output nodes fail validation, POST /prompt
 *   answers 200 with a non-empty `node_errors` and runs the other outputs. Darkroom
 *   treats the workflow as invalid: the prompt is removed (or interrupted), whatever the
 *   valid outputs made is not downloaded, and the task fails `invalid_parameters`
 *   (refunded), exactly like a 400.
 * - The cache: ComfyUI serves an identical prompt from its cache, with the very same
 *   output file. An image whose upstream identity (type/subfolder/filename) or bytes
 *   (SHA-256) were already delivered in this task is not delivered again: it counts as
 *   not produced (`generation_failed_no_content`), so it is never charged twice.
 */
import { createHash, randomInt, randomUUID } from "node:crypto";
import type { GenerationRequest } from "../../core/types.js";
import { probeImage } from "../../media/probe.js";
import {
  ProviderError,
  type ChannelSettings,
  type ChannelToValidate,
  type GenerateContext,
  type GenerateOutcome,
  type Provider,
} from "../contract.js";
import { ComfyUiClient, type HistoryEntry, type OutputImage } from "./client.js";
import { downloadFailure, timeoutError } from "./errors.js";
import { waitForPrompt, type PromptState } from "./watch.js";
import { fillWorkflow, loadWorkflowTemplate, type WorkflowTemplate } from "./workflow.js";

const DEFAULT_POLL_INTERVAL_MS = 1_000;
const DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 60_000;
const CANCEL_TIMEOUT_MS = 5_000;
const NEVER = new AbortController().signal;

export interface ComfyUiProviderOptions {
  /** A fresh seed per prompt; injectable so tests can see which seed was used. */
  randomSeed?: () => number;
}

interface ChannelPlan {
  template: WorkflowTemplate;
  negativePrompt: string;
  pollIntervalMs: number;
  maxImageBytes: number;
}

export type ComfyUiProvider = Provider & {
  /** Checks a channel's settings when it is loaded; throws an Error naming the problem. */
  validateChannel(channel: ChannelToValidate): void;
};

export function createComfyUiProvider(opts: ComfyUiProviderOptions = {}): ComfyUiProvider {
  const randomSeed = opts.randomSeed ?? (() => randomInt(0, 2 ** 48 - 1));
  // Parsed once per channel options object (workflow_file is read at the first load).
  const plans = new WeakMap<Record<string, unknown>, ChannelPlan>();
  const planFor = (options: Record<string, unknown>): ChannelPlan => {
    let plan = plans.get(options);
    if (!plan) {
      plan = buildPlan(options);
      plans.set(options, plan);
    }
    return plan;
  };

  return {
    name: "comfyui",
    safeToRepeat: false,
    canCancel: true,
    validateChannel(channel) {
      if (!channel.baseUrl) throw new Error("comfyui: the channel needs a base_url");
      planFor(channel.options);
    },
    async generate(req: GenerationRequest, ctx: GenerateContext): Promise<GenerateOutcome> {
      let plan: ChannelPlan;
      try {
        if (!ctx.channel.baseUrl) throw new Error("no base_url");
        plan = planFor(ctx.channel.options);
      } catch {
        throw new ProviderError(
          "service_error",
          "This channel's ComfyUI settings are invalid.",
          true,
        );
      }
      checkReferences(plan.template, ctx.referenceImages.length);
      return run(req, ctx, plan, ctx.channel as ChannelSettings & { baseUrl: string }, randomSeed);
    },
  };
}

const OPTION_KEYS = [
  "workflow",
  "workflow_file",
  "deterministic",
  "negative_prompt",
  "poll_interval_ms",
  "max_image_bytes",
];

function buildPlan(options: Record<string, unknown>): ChannelPlan {
  const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.includes(k));
  if (unknown.length > 0)
    throw new Error(
      `comfyui: unknown option ${unknown.join(", ")} (known: ${OPTION_KEYS.join(", ")})`,
    );
  const { negative_prompt: neg, poll_interval_ms: poll, max_image_bytes: cap } = options;
  if (neg !== undefined && typeof neg !== "string")
    throw new Error("comfyui: options.negative_prompt must be a string");
  if (poll !== undefined && !(Number.isInteger(poll) && (poll as number) >= 10))
    throw new Error("comfyui: options.poll_interval_ms must be an integer ≥ 10");
  if (cap !== undefined && !(Number.isInteger(cap) && (cap as number) >= 1024))
    throw new Error("comfyui: options.max_image_bytes must be an integer ≥ 1024");
  return {
    template: loadWorkflowTemplate(options),
    negativePrompt: (neg as string | undefined) ?? "",
    pollIntervalMs: (poll as number | undefined) ?? DEFAULT_POLL_INTERVAL_MS,
    maxImageBytes: (cap as number | undefined) ?? DEFAULT_MAX_IMAGE_BYTES,
  };
}

function checkReferences(template: WorkflowTemplate, given: number): void {
  if (given === template.imageSlots) return;
  throw new ProviderError(
    "invalid_parameters",
    template.imageSlots === 0
      ? "This model does not take reference images."
      : `This model takes exactly ${template.imageSlots} reference image(s); ${given} given.`,
    false,
  );
}

async function run(
  req: GenerationRequest,
  ctx: GenerateContext,
  plan: ChannelPlan,
  channel: ChannelSettings & { baseUrl: string },
  randomSeed: () => number,
): Promise<GenerateOutcome> {
  const client = new ComfyUiClient({
    baseUrl: channel.baseUrl,
    apiKey: channel.apiKey,
    maxImageBytes: plan.maxImageBytes,
    requestTimeoutMs: Math.min(REQUEST_TIMEOUT_MS, channel.timeoutMs),
  });
  // One signal for everything below: the task's own, or the channel's time limit.
  const timedOut = new Error("timed out");
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(timedOut), channel.timeoutMs);
  const onAbort = () => ctl.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener("abort", onAbort, { once: true });
  const signal = ctl.signal;

  const clientId = randomUUID();
  const prompts = plan.template.hasBatchSize ? [req.n] : Array<number>(req.n).fill(1);
  const report = (done: number) => ctx.onProgress(Math.min(99, Math.floor(done * 100)));
  let current: PromptState | null = null;
  let socket = null as Awaited<ReturnType<ComfyUiClient["openSocket"]>>;
  const outcome: GenerateOutcome = { generated: 0, failures: [] };
  const delivered: Delivered = { files: new Set(), hashes: new Set() };

  try {
    const images: string[] = [];
    for (const [i, ref] of ctx.referenceImages.entries()) {
      const ext = ref.contentType.split("/")[1]?.replace("jpeg", "jpg") ?? "png";
      images.push(await client.upload(ref, `darkroom-${randomUUID()}-${i + 1}.${ext}`, signal));
    }
    socket = await client.openSocket(clientId, signal);

    let index = 0;
    for (const [p, batchSize] of prompts.entries()) {
      const graph = fillWorkflow(plan.template, {
        prompt: req.prompt,
        negativePrompt: plan.negativePrompt,
        width: req.size.width,
        height: req.size.height,
        seed: randomSeed(),
        batchSize,
        images,
      });
      current = { promptId: "", started: false };
      // Not abortable (only undici's own timeouts bound it): a prompt queued after we
      // stopped listening would be orphaned on the GPU. A cancel or the time limit that
      // lands meanwhile is acted on just below, with the prompt id in hand.
      const queued = await client.submit(graph, clientId, NEVER);
      current.promptId = queued.promptId;
      if (signal.aborted) throw signal.reason;
      if (queued.nodeErrors) {
        // Some outputs were refused: what the others make is not what was asked for.
        await cancelUpstream(client, current);
        current = null;
        throw new ProviderError(
          "invalid_parameters",
          "The upstream rejected part of the workflow built for this request as invalid.",
          false,
        );
      }
      const entry = await waitForPrompt({
        client,
        socket,
        state: current,
        nodeCount: Object.keys(graph).length,
        signal,
        pollIntervalMs: plan.pollIntervalMs,
        onFraction: (f) => report((p + 0.9 * f) / prompts.length),
      });
      current = null;
      const outputs = outputImages(entry).slice(0, batchSize);
      for (let k = 0; k < batchSize; k++, index++) {
        const img = outputs[k];
        if (!img) {
          outcome.failures.push({
            index,
            code: "generation_failed_no_content",
            message: "The ComfyUI workflow produced fewer images than requested.",
          });
          continue;
        }
        const failure = await deliver(client, img, index, ctx, signal, delivered);
        if (failure) outcome.failures.push({ index, ...failure });
        else outcome.generated++;
      }
      report((p + 1) / prompts.length);
    }
    return outcome;
  } catch (err) {
    if (!signal.aborted) throw err;
    if (current?.promptId) await cancelUpstream(client, current);
    if (signal.reason === timedOut) throw timeoutError();
    throw ctx.signal.reason instanceof Error
      ? ctx.signal.reason
      : new ProviderError("request_cancelled", "The task was cancelled.", false);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onAbort);
    socket?.close();
  }
}

/** Output images in node-id order; "output" ones (SaveImage) over "temp" previews. */
function outputImages(entry: HistoryEntry): OutputImage[] {
  const all = Object.entries(entry.outputs ?? {})
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
    .flatMap(([, o]) => (Array.isArray(o.images) ? o.images : []))
    .filter((i) => i && typeof i.filename === "string");
  const saved = all.filter((i) => i.type === "output");
  return saved.length > 0 ? saved : all;
}

/** What this task has already delivered: upstream file identities and content hashes. */
interface Delivered {
  files: Set<string>;
  hashes: Set<string>;
}

const ALREADY_DELIVERED = {
  code: "generation_failed_no_content" as const,
  message:
    "ComfyUI returned an image already delivered for this task (served from its cache); it is not counted twice.",
};

/** Downloads one image and hands it over; returns a per-image failure instead of throwing. */
async function deliver(
  client: ComfyUiClient,
  img: OutputImage,
  index: number,
  ctx: GenerateContext,
  signal: AbortSignal,
  delivered: Delivered,
) {
  const file = {
    filename: img.filename,
    subfolder: img.subfolder ?? "",
    type: img.type ?? "output",
  };
  const identity = JSON.stringify([file.type, file.subfolder, file.filename]);
  if (delivered.files.has(identity)) return ALREADY_DELIVERED;
  let got: Awaited<ReturnType<ComfyUiClient["view"]>>;
  try {
    got = await client.view(file, signal);
  } catch (err) {
    if (signal.aborted) throw err;
    return downloadFailure("network");
  }
  if (!got.ok) return downloadFailure(got.reason);
  const probed = probeImage(got.data);
  if (!probed) return downloadFailure("not_image");
  const hash = createHash("sha256").update(got.data).digest("hex");
  if (delivered.hashes.has(hash)) return ALREADY_DELIVERED;
  delivered.files.add(identity);
  delivered.hashes.add(hash);
  await ctx.onImage({ index, data: got.data, ...probed });
  return null;
}

/** Frees the GPU: delete the prompt if still queued, interrupt it if running. Best effort. */
async function cancelUpstream(client: ComfyUiClient, prompt: PromptState): Promise<void> {
  const signal = AbortSignal.timeout(CANCEL_TIMEOUT_MS);
  const id = prompt.promptId;
  try {
    let where = prompt.started ? "running" : await client.queuePosition(id, signal);
    if (where === "pending") {
      await client.deleteFromQueue(id, signal);
      // It may have started between the two calls.
      where = await client.queuePosition(id, signal);
    }
    if (where === "running") await client.interrupt(id, signal);
  } catch {
    // The upstream is gone or slow; the task is failed regardless.
  }
}
