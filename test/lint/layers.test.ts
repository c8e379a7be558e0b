/**
 * The layer rule (eslint-rules/layers.js, configured in eslint.config.js) run through
 * ESLint's own API with the project's configuration: a planted wrong-way import must
 * fail the lint, a right-way one must not.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const eslint = new ESLint({ cwd: repo });

async function layerProblems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === "darkroom/layers")
    .map((m) => m.message);
}

describe("darkroom/layers", () => {
  it("fails a store file that imports from http", async () => {
    const problems = await layerProblems(
      "src/store/planted.ts",
      'import type { AppDeps } from "../http/app.js";\nexport type X = AppDeps;\n',
    );
    expect(problems).toEqual([
      expect.stringMatching(/^src\/store may not import src\/http\/app\.js: http is above store/),
    ]);
  });

  it("catches re-exports and dynamic imports, and files deeper in a layer", async () => {
    const problems = await layerProblems(
      "src/webhooks/deep/planted.ts",
      'export { buildApp } from "../../http/app.js";\n' +
        'export * from "../../http/plugins/auth.js";\n' +
        'export const load = () => import("../../server/darkroom.js");\n',
    );
    expect(problems).toHaveLength(3);
  });

  it("passes imports from the same or a lower layer", async () => {
    const problems = await layerProblems(
      "src/http/routes/planted.ts",
      'import { ApiError } from "../../core/errors.js";\n' +
        'import type { Store } from "../../store/store.js";\n' +
        'import { signWebhook } from "../../webhooks/sign.js";\n' +
        'import { requestIdFrom } from "../request-id.js";\n' +
        "export const all = [ApiError, signWebhook, requestIdFrom];\n" +
        "export type S = Store;\n",
    );
    expect(problems).toEqual([]);
  });

  it("fails a folder that is not in the layer list", async () => {
    const problems = await layerProblems("src/metrics/planted.ts", "export const x = 1;\n");
    expect(problems).toEqual([expect.stringMatching(/src\/metrics is not in the layer list/)]);
  });

  it("keeps I/O modules out of core", async () => {
    const problems = await layerProblems(
      "src/core/planted.ts",
      'import { readFileSync } from "node:fs";\nimport { createHash } from "node:crypto";\n' +
        "export const all = [readFileSync, createHash];\n",
    );
    expect(problems).toEqual([expect.stringMatching(/may not import node:fs/)]);
  });

  it("leaves files outside src/ alone", async () => {
    const problems = await layerProblems(
      "test/planted.test.ts",
      'import { startDarkroom } from "../src/server/darkroom.js";\nexport const s = startDarkroom;\n',
    );
    expect(problems).toEqual([]);
  });
});
