/**
 * Models declared in DARKROOM_CONFIG: the same rules as the built-in ones, checked at
 * start with messages that name the entry and the field, served by GET /v1/models
 * and applied on submit.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { modelRuleProblems } from "../../src/core/model-rules.js";
import { BUILTIN_MODELS } from "../../src/core/models.js";
import { startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

const dir = mkdtempSync(path.join(tmpdir(), "darkroom-modelcfg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function writeConfig(file: unknown): string {
  const p = path.join(dir, `m${n++}.json`);
  writeFileSync(p, JSON.stringify(file));
  return p;
}
const load = (models: unknown[]) =>
  loadConfig({ DARKROOM_CONFIG: writeConfig({ models }), DARKROOM_DATA_DIR: dir });

/** The ConfigError message a config gives, or a failure if it loads. */
function refusal(models: unknown[]): string {
  try {
    load(models);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`loaded: ${JSON.stringify(models)}`);
}

const flux = {
  id: "my-flux",
  owned_by: "me",
  price: "1.5",
  prompt_max_chars: 500,
  qualities: ["1K", "2K"],
  default_quality: "1K",
  size_forms: ["auto", "ratio", "pixels"],
  auto_size: "1024x1024",
  min_pixels: 262_144,
  max_pixels: 4_194_304,
  min_aspect: 0.25,
  max_aspect: 4,
  side_multiple: 16,
  max_side: 2048,
  max_n: 4,
  max_reference_images: 2,
  model_params: {
    steps: { type: "integer", min: 1, max: 50, default: 28 },
    guidance: { type: "number", min: 0, max: 10 },
    raw: { type: "boolean" },
    sampler: { type: "enum", values: ["euler", "dpm"], default: "euler" },
  },
};

describe("model rules", () => {
  it("every built-in model's rules hold together", () => {
    for (const m of BUILTIN_MODELS) expect(modelRuleProblems(m), m.id).toEqual([]);
  });

  it("finds a model whose own sizes break its own limits", () => {
    const gemini = BUILTIN_MODELS.find((m) => m.id === "gemini-3-pro-image-preview")!;
    // 3:4 and 4:3 at 4K are the table's largest (3584x4800): one pixel less refuses both.
    expect(modelRuleProblems({ ...gemini, maxPixels: 3584 * 4800 - 1 })).toEqual([
      expect.objectContaining({ path: "ratio_sizes.3:4.4K" }),
      expect.objectContaining({ path: "ratio_sizes.4:3.4K" }),
    ]);
  });
});

describe("models in DARKROOM_CONFIG", () => {
  it("declares a model from nothing, with typed parameters", () => {
    const c = load([flux]);
    const m = c.models.find((x) => x.id === "my-flux")!;
    expect(m).toMatchObject({
      ownedBy: "me",
      priceMicros: 1_500_000,
      promptMaxChars: 500,
      sizeForms: ["auto", "ratio", "pixels"],
      autoSize: [1024, 1024],
      sideMultiple: 16,
      maxSide: 2048,
      maxN: 4,
      maxReferenceImages: 2,
      maxTotalImages: 6,
      modelParams: { steps: { kind: "integer", min: 1, max: 50, default: 28 } },
    });
    // The built-ins are still there.
    expect(c.models.map((x) => x.id)).toContain("gpt-image-2");
  });

  it("extends a built-in model and changes only what it names", () => {
    const c = load([{ id: "gpt-image-2-cheap", extends: "gpt-image-2", price: 1, max_n: 2 }]);
    const m = c.models.find((x) => x.id === "gpt-image-2-cheap")!;
    expect(m).toMatchObject({ maxN: 2, priceMicros: 1_000_000, sideMultiple: 16, maxSide: 3840 });
  });

  it("narrows a built-in model, its ratio table following its qualities", () => {
    // docs/models.md: seedream 5.0 lite as third-party pages describe it.
    const c = load([
      { id: "doubao-seedream-5.0-lite", qualities: ["2K", "3K"], max_pixels: 10_404_496 },
    ]);
    const m = c.models.find((x) => x.id === "doubao-seedream-5.0-lite")!;
    expect(m.ratioSizes!["16:9"]).toEqual({ "2K": [2848, 1600], "3K": [4096, 2304] });
    expect(m.defaultQuality).toBe("2K");
  });

  it("refuses bounds out of order, naming the entry and the field", () => {
    expect(refusal([{ ...flux, min_pixels: 5_000_000 }])).toBe(
      'config: models[0] ("my-flux").max_pixels: must be at least min_pixels',
    );
    expect(
      refusal([{ ...flux, model_params: { steps: { type: "integer", min: 10, max: 5 } } }]),
    ).toBe('config: models[0] ("my-flux").model_params.steps.max: must be at least min');
    expect(
      refusal([
        flux,
        {
          id: "b",
          extends: "my-flux",
          model_params: { s: { type: "enum", values: ["a"], default: "z" } },
        },
      ]),
    ).toBe('config: models[1] ("b").model_params.s.default: must be one of values');
    expect(refusal([{ ...flux, default_quality: "4K" }])).toMatch(
      /models\[0\] \("my-flux"\)\.default_quality: must be one of qualities/,
    );
    expect(refusal([{ ...flux, auto_size: "4096x4096" }])).toMatch(
      /\.auto_size: 4096x4096 has 16777216 pixels, outside min_pixels\.\.max_pixels/,
    );
  });

  it("refuses an unknown parameter type, an unknown field and a missing rule", () => {
    expect(
      refusal([{ ...flux, model_params: { steps: { type: "float", min: 1, max: 2 } } }]),
    ).toMatch(
      /^DARKROOM_CONFIG: models\.0\.model_params\.steps\.type: Invalid discriminator value/,
    );
    expect(
      refusal([{ ...flux, model_params: { steps: { type: "integer", min: 1, max: 2, step: 1 } } }]),
    ).toMatch(/models\.0\.model_params\.steps: Unrecognized key\(s\) in object: 'step'/);
    expect(refusal([{ ...flux, max_pixel: 5 }])).toMatch(
      /models\.0: Unrecognized key\(s\) in object: 'max_pixel'/,
    );
    const { qualities: _q, min_pixels: _p, ...partial } = flux;
    expect(refusal([partial])).toBe(
      'config: models[0] ("my-flux"): qualities, min_pixels are required for a model that extends no other',
    );
    expect(refusal([{ id: "x", extends: "nope" }])).toMatch(
      /^config: models\[0\] \("x"\)\.extends: no model "nope"/,
    );
  });
});

describe("a config-declared model at work", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_CONFIG: writeConfig({ models: [flux] }) });
  });
  afterAll(() => s.stop());

  const submit = (body: Record<string, unknown>) =>
    s.api("/v1/images/generations", { body: { model: "my-flux", prompt: "a fox", ...body } });

  it("is listed by GET /v1/models with its rules", async () => {
    const r = await s.api("/v1/models");
    expect(r.status).toBe(200);
    const m = r.json.data.find((x: { id: string }) => x.id === "my-flux");
    expect(m).toMatchObject({
      owned_by: "me",
      price_per_image: 1.5,
      max_images: 4,
      rules: {
        prompt_max_chars: 500,
        size_forms: ["auto", "ratio", "pixels"],
        side_multiple: 16,
        max_side: 2048,
        model_params: {
          steps: { type: "integer", min: 1, max: 50, default: 28 },
          raw: { type: "boolean" },
        },
      },
    });
    const g = r.json.data.find((x: { id: string }) => x.id === "gemini-2.5-flash-image");
    expect(g.rules.ratio_sizes["16:9"]).toEqual({ "1K": "1344x768" });
  });

  it("is validated on submit by its own rules", async () => {
    const param = async (body: Record<string, unknown>) => {
      const r = await submit(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      return r.json.error.param as string;
    };
    expect(await param({ prompt: "a".repeat(501) })).toBe("prompt");
    expect(await param({ size: "1000x1000" })).toBe("size"); // not a multiple of 16
    expect(await param({ size: "2064x1024" })).toBe("size"); // longest side over 2048
    expect(await param({ size: "2K" })).toBe("size"); // the tier form is not declared
    expect(await param({ n: 5 })).toBe("n");
    expect(await param({ model_params: { steps: 51 } })).toBe("model_params.steps");
    expect(await param({ model_params: { steps: 2.5 } })).toBe("model_params.steps");
    expect(await param({ model_params: { guidance: "7" } })).toBe("model_params.guidance");
    expect(await param({ model_params: { raw: 1 } })).toBe("model_params.raw");
    expect(await param({ model_params: { seed: 1 } })).toBe("model_params.seed");

    const ok = await submit({
      size: "2048x1024",
      n: 2,
      model_params: { steps: 50, guidance: 7.5, raw: true },
    });
    expect(ok.status).toBe(200);
    const { final } = await waitForTask(s, ok.json.id);
    expect(final.status).toBe("completed");
    expect(final.results).toHaveLength(2);
  });
});
