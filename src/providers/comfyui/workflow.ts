/**
 * The operator's ComfyUI workflow template (API format: `{"<node id>": {class_type,
 * inputs}}`) and how a task fills it. Pure: no I/O besides reading `workflow_file` once
 * when a channel is loaded.
 *
 * Placeholder syntax: an input whose value is exactly the string `"{{name}}"` is replaced
 * by a typed value (numbers stay numbers):
 *
 *   {{prompt}}            the task's prompt (required somewhere in the template)
 *   {{negative_prompt}}   the channel option `negative_prompt` (default "")
 *   {{width}} {{height}}  the task's size in pixels
 *   {{seed}}              a fresh random seed per task (per prompt when n runs sequentially)
 *   {{batch_size}}        n; without it, n images are made by n prompts one after another
 *   {{image_1}} …         the uploaded name of reference image 1 … (the template needs
 *                         exactly as many reference images as the highest N it uses)
 *
 * `{{prompt}}` and `{{negative_prompt}}` may also sit inside a longer string
 * (`"a photo of {{prompt}}, 35mm"`); the numeric ones must be the whole value.
 *
 * `{{seed}}` must feed an output node (SaveImage, PreviewImage…): ComfyUI caches every
 * node by its inputs, so a graph whose seed cannot change the image is served from the
 * cache on the next identical prompt, the same file again (n sequential prompts = one
 * image n times, and every caller with the same prompt gets the same picture). Such a
 * template is refused when the channel is loaded, unless the operator declares it
 * deterministic on purpose (`options.deterministic: true`); either way the provider
 * never delivers (or bills) one upstream image twice.
 */
import { readFileSync } from "node:fs";

export type WorkflowGraph = Record<string, { class_type: string; inputs: Record<string, unknown> }>;

export interface WorkflowTemplate {
  graph: WorkflowGraph;
  /** The template sets the batch size itself, so n images come from one prompt. */
  hasBatchSize: boolean;
  /** Reference images the template takes ({{image_1}} … {{image_N}}). */
  imageSlots: number;
  /** `{{seed}}` sits in a node that an output node depends on, so it can vary the images. */
  seedReachesOutput: boolean;
}

export interface WorkflowValues {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  seed: number;
  batchSize: number;
  /** Uploaded names, image_1 first. */
  images: string[];
}

const WHOLE = /^\{\{\s*([a-z0-9_]+)\s*\}\}$/;
const ANY = /\{\{\s*([a-z0-9_]+)\s*\}\}/g;
const TEXTUAL = new Set(["prompt", "negative_prompt"]);
const NUMERIC = new Set(["width", "height", "seed", "batch_size"]);
const IMAGE = /^image_([1-9][0-9]?)$/;

export class WorkflowTemplateError extends Error {
  override name = "WorkflowTemplateError";
}

/** Reads and checks a channel's template; throws WorkflowTemplateError with a clear message. */
export function loadWorkflowTemplate(options: Record<string, unknown>): WorkflowTemplate {
  const { workflow, workflow_file: file } = options;
  if (workflow !== undefined && file !== undefined)
    throw new WorkflowTemplateError(
      "comfyui: set only one of options.workflow and options.workflow_file",
    );
  let raw: unknown = workflow;
  if (file !== undefined) {
    if (typeof file !== "string" || file === "")
      throw new WorkflowTemplateError("comfyui: options.workflow_file must be a file path");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new WorkflowTemplateError(
        `comfyui: cannot read options.workflow_file ${file}: ${(err as Error).message}`,
      );
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new WorkflowTemplateError(
        `comfyui: options.workflow_file ${file} is not valid JSON: ${(err as Error).message}`,
      );
    }
  }
  if (raw === undefined)
    throw new WorkflowTemplateError(
      "comfyui: a channel needs options.workflow (an API-format workflow object) or options.workflow_file",
    );
  const { deterministic } = options;
  if (deterministic !== undefined && typeof deterministic !== "boolean")
    throw new WorkflowTemplateError("comfyui: options.deterministic must be true or false");
  const template = parseWorkflowTemplate(raw);
  if (!template.seedReachesOutput && deterministic !== true)
    throw new WorkflowTemplateError(
      `comfyui: the workflow's {{seed}} ${seedNodes(template.graph).length === 0 ? "is missing" : "does not feed any output node"}, so ComfyUI would serve repeats of the same inputs from its cache (the same image again); put "{{seed}}" in the sampler's seed input, or set options.deterministic: true if the workflow is meant to give the same image for the same prompt`,
    );
  return template;
}

/** Nodes with an input that is exactly `{{seed}}`. */
function seedNodes(graph: WorkflowGraph): string[] {
  return Object.entries(graph)
    .filter(([, node]) =>
      Object.values(node.inputs).some(
        (v) => typeof v === "string" && WHOLE.exec(v)?.[1] === "seed",
      ),
    )
    .map(([id]) => id);
}

/**
 * Whether a `{{seed}}` node is (an ancestor of) an output node. Outputs are the sinks
 * (nodes no other node takes input from) whose class saves or previews an image; when
 * no sink looks like one (custom nodes), every sink counts.
 */
function seedFeedsOutput(graph: WorkflowGraph): boolean {
  const seeds = new Set(seedNodes(graph));
  if (seeds.size === 0) return false;
  const consumed = new Set<string>();
  for (const node of Object.values(graph))
    for (const v of Object.values(node.inputs)) if (isLink(v)) consumed.add(v[0]);
  const sinks = Object.keys(graph).filter((id) => !consumed.has(id));
  const savers = sinks.filter((id) => /save|preview/i.test(graph[id]!.class_type));
  const outputs = savers.length > 0 ? savers : sinks;
  const reaches = new Map<string, boolean>();
  const visit = (id: string, path: Set<string>): boolean => {
    const known = reaches.get(id);
    if (known !== undefined) return known;
    const node = graph[id];
    if (!node || path.has(id)) return false;
    path.add(id);
    let hit = seeds.has(id);
    for (const v of Object.values(node.inputs)) if (!hit && isLink(v)) hit = visit(v[0], path);
    path.delete(id);
    reaches.set(id, hit);
    return hit;
  };
  return outputs.some((id) => visit(id, new Set()));
}

/** An API-format link to another node's output: ["<node id>", <slot>]. */
function isLink(v: unknown): v is [string, number] {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "number";
}

export function parseWorkflowTemplate(raw: unknown): WorkflowTemplate {
  if (!isObject(raw) || Object.keys(raw).length === 0)
    throw new WorkflowTemplateError(
      'comfyui: the workflow must be a non-empty object of nodes in API format ({"3": {"class_type": …, "inputs": {…}}}); export it with "Save (API)"',
    );
  const found = new Set<string>();
  let imageSlots = 0;
  for (const [id, node] of Object.entries(raw)) {
    if (!isObject(node) || typeof node.class_type !== "string" || !isObject(node.inputs))
      throw new WorkflowTemplateError(
        `comfyui: workflow node "${id}" needs a string class_type and an inputs object (is this the API format?)`,
      );
    for (const [input, value] of Object.entries(node.inputs)) {
      if (typeof value !== "string") continue;
      const where = `node "${id}" input "${input}"`;
      const whole = WHOLE.exec(value);
      const names = whole ? [whole[1]!] : [...value.matchAll(ANY)].map((m) => m[1]!);
      for (const name of names) {
        const slot = IMAGE.exec(name);
        if (!TEXTUAL.has(name) && !NUMERIC.has(name) && !slot)
          throw new WorkflowTemplateError(
            `comfyui: unknown placeholder {{${name}}} in ${where}; known: {{prompt}}, {{negative_prompt}}, {{width}}, {{height}}, {{seed}}, {{batch_size}}, {{image_1}}…`,
          );
        if (!whole && !TEXTUAL.has(name))
          throw new WorkflowTemplateError(
            `comfyui: {{${name}}} in ${where} must be the whole value, e.g. "${input}": "{{${name}}}"`,
          );
        if (slot) imageSlots = Math.max(imageSlots, Number(slot[1]));
        found.add(name);
      }
    }
  }
  if (!found.has("prompt"))
    throw new WorkflowTemplateError(
      'comfyui: the workflow has no {{prompt}} placeholder; put "{{prompt}}" in the positive text node\'s input',
    );
  const graph = raw as WorkflowGraph;
  return {
    graph,
    hasBatchSize: found.has("batch_size"),
    imageSlots,
    seedReachesOutput: seedFeedsOutput(graph),
  };
}

/** A new graph with every placeholder replaced; the template itself is left untouched. */
export function fillWorkflow(template: WorkflowTemplate, v: WorkflowValues): WorkflowGraph {
  const value = (name: string): string | number => {
    switch (name) {
      case "prompt":
        return v.prompt;
      case "negative_prompt":
        return v.negativePrompt;
      case "width":
        return v.width;
      case "height":
        return v.height;
      case "seed":
        return v.seed;
      case "batch_size":
        return v.batchSize;
    }
    const slot = IMAGE.exec(name);
    const image = slot ? v.images[Number(slot[1]) - 1] : undefined;
    // Checked against imageSlots before filling; a gap here is a programming error.
    if (image === undefined) throw new Error(`no value for placeholder {{${name}}}`);
    return image;
  };
  const out: WorkflowGraph = {};
  for (const [id, node] of Object.entries(template.graph)) {
    const inputs: Record<string, unknown> = {};
    for (const [input, raw] of Object.entries(node.inputs)) {
      if (typeof raw !== "string") {
        inputs[input] = structuredClone(raw);
        continue;
      }
      const whole = WHOLE.exec(raw);
      inputs[input] = whole
        ? value(whole[1]!)
        : raw.replace(ANY, (_m, name: string) => String(value(name)));
    }
    out[id] = { ...structuredClone(node), inputs };
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
