/**
 * spec/api.md, model catalogue: doubao-seedream-5.0-lite takes
 * `model_params.tools: [{"type": "web_search"}]`; anything else in `tools` is a 400
 * invalid_request naming `model_params.tools`, and a model without the parameter
 * refuses it the same way. A refused request creates and reserves nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
});
afterAll(() => s?.stop());

const submit = (model: string, tools: unknown) =>
  s.api("/v1/images/generations", {
    body: { model, prompt: "with tools", model_params: { tools } },
  });
const remaining = async () =>
  (await s.api("/v1/credits")).json.data.user.remaining_credits as number;

describe("model_params.tools", () => {
  it('[{"type": "web_search"}] is accepted for doubao-seedream-5.0-lite', async () => {
    const r = await submit("doubao-seedream-5.0-lite", [{ type: "web_search" }]);
    expect(r.status).toBe(200);
    expect(r.json.status).toBe("pending");
  });

  const refused: Array<[string, unknown]> = [
    ["an unknown tool type", [{ type: "code_interpreter" }]],
    ["a tool with an extra field", [{ type: "web_search", max_results: 3 }]],
    ["a tool without a type", [{}]],
    ["a bare string", "web_search"],
    ["an object instead of a list", { type: "web_search" }],
    ["a list of strings", ["web_search"]],
    ["null", null],
  ];
  for (const [what, tools] of refused) {
    it(`${what} is 400 with param model_params.tools, and nothing is reserved`, async () => {
      const before = await remaining();
      const r = await submit("doubao-seedream-5.0-lite", tools);
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({
        code: "invalid_request",
        type: "invalid_request_error",
        param: "model_params.tools",
      });
      expect(await remaining()).toBe(before);
    });
  }

  it("a model without tools (doubao-seedream-4.0) refuses even web_search, naming the param", async () => {
    const r = await submit("doubao-seedream-4.0", [{ type: "web_search" }]);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_request", param: "model_params.tools" });
  });
});
