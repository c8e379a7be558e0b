import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/providers/contract.js";
import {
  httpError,
  executionError,
  parseRetryAfter,
} from "../../../src/providers/comfyui/errors.js";
import { createComfyUiProvider } from "../../../src/providers/comfyui/index.js";
import {
  fillWorkflow,
  loadWorkflowTemplate,
  parseWorkflowTemplate,
} from "../../../src/providers/comfyui/workflow.js";
import { fixedSeed, txt2img, withReference } from "./fixtures.js";

const values = {
  prompt: "a lighthouse",
  negativePrompt: "blurry",
  width: 832,
  height: 1216,
  seed: 424242,
  batchSize: 3,
  images: ["darkroom-ref.png"],
};

describe("comfyui workflow template", () => {
  it("fills placeholders with typed values and leaves the template untouched", () => {
    const t = parseWorkflowTemplate(withReference());
    expect(t).toMatchObject({ hasBatchSize: true, imageSlots: 1 });
    const g = fillWorkflow(t, values);
    expect(g["5"]!.inputs).toEqual({ width: 832, height: 1216, batch_size: 3 });
    expect(g["6"]!.inputs.text).toBe("a lighthouse");
    expect(g["7"]!.inputs.text).toBe("blurry");
    expect(g["3"]!.inputs.seed).toBe(424242);
    expect(g["3"]!.inputs.model).toEqual(["4", 0]);
    expect(g["10"]!.inputs.image).toBe("darkroom-ref.png");
    expect((t.graph["6"]!.inputs as { text: string }).text).toBe("{{prompt}}");
  });

  it("interpolates text placeholders inside longer strings, literally", () => {
    const graph = txt2img();
    (graph["6"] as { inputs: Record<string, unknown> }).inputs.text = "photo of {{prompt}}, 35mm";
    const g = fillWorkflow(parseWorkflowTemplate(graph), { ...values, prompt: "$& {{seed}}" });
    expect(g["6"]!.inputs.text).toBe("photo of $& {{seed}}, 35mm");
  });

  it("rejects bad templates with messages that say what to fix", () => {
    const noPrompt = txt2img();
    (noPrompt["6"] as { inputs: Record<string, unknown> }).inputs.text = "fixed";
    expect(() => parseWorkflowTemplate(noPrompt)).toThrow(/no \{\{prompt\}\} placeholder/);

    const unknown = txt2img();
    (unknown["3"] as { inputs: Record<string, unknown> }).inputs.cfg = "{{cfg}}";
    expect(() => parseWorkflowTemplate(unknown)).toThrow(
      /unknown placeholder \{\{cfg\}\} in node "3" input "cfg"/,
    );

    const partial = txt2img();
    (partial["3"] as { inputs: Record<string, unknown> }).inputs.seed = "x{{seed}}";
    expect(() => parseWorkflowTemplate(partial)).toThrow(/must be the whole value/);

    expect(() => parseWorkflowTemplate({ nodes: [], links: [] })).toThrow(/API format/);
    expect(() => parseWorkflowTemplate([])).toThrow(/API format/);
    expect(() => loadWorkflowTemplate({})).toThrow(/options.workflow/);
  });

  it("reads options.workflow_file, and names the file when it is not JSON", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "comfy-wf-"));
    const good = path.join(dir, "wf.json");
    writeFileSync(good, JSON.stringify(txt2img()));
    expect(loadWorkflowTemplate({ workflow_file: good }).hasBatchSize).toBe(true);
    const bad = path.join(dir, "bad.json");
    writeFileSync(bad, "{ nope");
    expect(() => loadWorkflowTemplate({ workflow_file: bad })).toThrow(
      /bad\.json is not valid JSON/,
    );
    expect(() => loadWorkflowTemplate({ workflow_file: path.join(dir, "missing.json") })).toThrow(
      /cannot read/,
    );
  });

  it("refuses a template whose {{seed}} cannot vary the images, unless declared deterministic", () => {
    const p = createComfyUiProvider();
    const check =
      (workflow: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      () =>
        p.validateChannel({ baseUrl: "http://gpu:8188", options: { workflow, ...extra } });
    expect(check(fixedSeed())).toThrow(/\{\{seed\}\} is missing.*options\.deterministic/);
    expect(check(fixedSeed({ dangling: true }))).toThrow(
      /\{\{seed\}\} does not feed any output node/,
    );
    expect(check(fixedSeed(), { deterministic: true })).not.toThrow();
    expect(check(fixedSeed(), { deterministic: "yes" })).toThrow(/deterministic must be/);
    expect(check(txt2img())).not.toThrow();
    expect(check(txt2img({ batch: false }))).not.toThrow();
    expect(parseWorkflowTemplate(fixedSeed({ dangling: true })).seedReachesOutput).toBe(false);
    expect(parseWorkflowTemplate(withReference()).seedReachesOutput).toBe(true);
  });

  it("validateChannel checks base_url, the template and the options at load", () => {
    const p = createComfyUiProvider();
    expect(() =>
      p.validateChannel({ baseUrl: "http://gpu:8188", options: { workflow: txt2img() } }),
    ).not.toThrow();
    expect(() => p.validateChannel({ baseUrl: null, options: { workflow: txt2img() } })).toThrow(
      /base_url/,
    );
    expect(() =>
      p.validateChannel({ baseUrl: "http://gpu:8188", options: { workflow: {} } }),
    ).toThrow(/non-empty object/);
    expect(() =>
      p.validateChannel({
        baseUrl: "http://gpu:8188",
        options: { workflow: txt2img(), poll_interval_ms: 1 },
      }),
    ).toThrow(/poll_interval_ms/);
    expect(() =>
      p.validateChannel({ baseUrl: "http://gpu:8188", options: { workflow_fle: "/x.json" } }),
    ).toThrow(/unknown option workflow_fle/);
  });
});

describe("comfyui error mapping", () => {
  it("maps HTTP answers by stage", () => {
    const cases: Array<[Parameters<typeof httpError>, string, boolean, boolean]> = [
      [["submit", 400], "invalid_parameters", false, false],
      [["submit", 500], "service_error", true, false],
      [["submit", 503], "service_unavailable", true, false],
      [["submit", 429], "resource_exhausted", true, false],
      [["upload", 400], "image_processing_error", false, false],
      [["run", 500], "service_error", true, true],
    ];
    for (const [args, code, retryable, charged] of cases) {
      const e = httpError(...args);
      expect([args, e.code, e.retryable, e.mayHaveCharged]).toEqual([
        args,
        code,
        retryable,
        charged,
      ]);
      expect(e).toBeInstanceOf(ProviderError);
    }
  });

  it("maps execution errors: out of memory, bad input image, anything else", () => {
    expect(executionError({ exception_type: "torch.OutOfMemoryError" }).code).toBe(
      "resource_exhausted",
    );
    expect(
      executionError({ node_type: "LoadImage", exception_type: "FileNotFoundError" }).code,
    ).toBe("image_processing_error");
    const other = executionError({
      exception_type: "RuntimeError",
      exception_message: "at /srv/x",
    });
    expect([other.code, other.retryable, other.mayHaveCharged]).toEqual([
      "service_error",
      false,
      true,
    ]);
    expect(other.message).not.toContain("/srv");
  });

  it("parses Retry-After seconds and dates", () => {
    expect(parseRetryAfter("7")).toBe(7000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});
