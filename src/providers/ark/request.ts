/**
 * Our normalised GenerationRequest → the Ark request body, field by field. Pure.
 *
 * | ours                        | Ark                                                                  |
 * | --------------------------- | -------------------------------------------------------------------- |
 * | channel upstream model id   | `model` (`doubao-seedream-4-0-250828`, `seedream-4-0-250828`, `ep-…`) |
 * | `prompt`                    | `prompt`                                                             |
 * | `size` auto                 | `"2048x2048"`: our documented meaning, sent explicitly               |
 * | `size` ratio × quality      | `"WxH"` from our ratio table (what the caller saw priced)            |
 * | `size` pixels               | `"WxH"`                                                              |
 * | `size` tier 1K/2K/4K        | the tier itself; Ark then picks the aspect from the prompt           |
 * | `size` tier 3K              | `"3072x3072"` (not an Ark tier)                                      |
 * | `n` = 1                     | `sequential_image_generation: "disabled"`                            |
 * | `n` > 1                     | `"auto"` + `sequential_image_generation_options.max_images: n`       |
 * | `prompt_priority` fast      | `optimize_prompt_options.mode: "fast"` (standard is Ark's default;   |
 * |                             | never sent to 4.5 / 5.0 model ids, which reject it)                  |
 * | reference images            | `image`: `data:image/<fmt>;base64,…`, a string for one, else array   |
 * | channel `watermark`         | `watermark`, always explicit (Ark defaults to true)                  |
 * | channel `response_format`   | `response_format`                                                    |
 * | channel `stream`            | `stream`                                                             |
 * | `model_params.output_format`| `output_format` (seedream 5.0 lite)                                  |
 * | `model_params.tools`        | `tools` (seedream 5.0 lite web search)                               |
 */
import type { GenerationRequest, SizeSpec } from "../../core/types.js";
import type { ReferenceImage } from "../contract.js";
import type { ArkChannel } from "./channel.js";

export interface ArkRequestBody {
  model: string;
  prompt: string;
  size: string;
  sequential_image_generation: "auto" | "disabled";
  sequential_image_generation_options?: { max_images: number };
  optimize_prompt_options?: { mode: "fast" };
  image?: string | string[];
  watermark: boolean;
  response_format: "b64_json" | "url";
  stream: boolean;
  output_format?: string;
  tools?: unknown;
}

export function arkSize(size: SizeSpec): string {
  if (size.kind === "tier" && size.tier !== "3K") return size.tier;
  return `${size.width}x${size.height}`;
}

/** Model ids (or families) known to reject `optimize_prompt_options.mode: fast`. */
const NO_FAST = /seedream-4-5|seedream-5-0/;

export function referenceDataUrl(ref: ReferenceImage): string {
  const fmt = ref.contentType.replace(/^image\//, "").toLowerCase();
  return `data:image/${fmt};base64,${ref.data.toString("base64")}`;
}

export function buildArkBody(
  req: GenerationRequest,
  ch: ArkChannel,
  refs: ReferenceImage[],
): ArkRequestBody {
  const body: ArkRequestBody = {
    model: ch.upstreamModel,
    prompt: req.prompt,
    size: arkSize(req.size),
    sequential_image_generation: req.n > 1 ? "auto" : "disabled",
    watermark: ch.watermark,
    response_format: ch.responseFormat,
    stream: ch.stream,
  };
  if (req.n > 1) body.sequential_image_generation_options = { max_images: req.n };
  if (req.promptPriority === "fast" && !NO_FAST.test(ch.upstreamModel))
    body.optimize_prompt_options = { mode: "fast" };
  if (refs.length === 1) body.image = referenceDataUrl(refs[0]!);
  else if (refs.length > 1) body.image = refs.map(referenceDataUrl);
  if (typeof req.modelParams.output_format === "string")
    body.output_format = req.modelParams.output_format;
  if (req.modelParams.tools !== undefined) body.tools = req.modelParams.tools;
  return body;
}
