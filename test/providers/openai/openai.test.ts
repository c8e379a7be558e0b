/**
 * The `openai` provider against its loopback emulator: success (b64_json and url,
 * single and multi), every error class of the mapping, Retry-After, slowness, a hang,
 * a reset mid-body, malformed JSON, and edits with reference images.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/providers/contract.js";
import { createOpenAIProvider } from "../../../src/providers/openai/index.js";
import { startOpenAIEmulator, type OpenAIEmulator } from "../../emulators/openai.js";
import { fakeContext, normalised } from "../../helpers/provider-context.js";

let emu: OpenAIEmulator;
const provider = createOpenAIProvider();

beforeAll(async () => {
  emu = await startOpenAIEmulator({ compatibleModels: ["seedream-compat"] });
});
afterAll(() => emu.close());

const ctxFor = (over: Record<string, unknown> = {}, refs: Parameters<typeof fakeContext>[1] = {}) =>
  fakeContext(
    {
      provider: "openai",
      baseUrl: emu.url,
      apiKey: emu.apiKey,
      upstreamModel: "gpt-image-1",
      ...over,
    },
    refs,
  );

const gpt = (prompt: string, extra: Record<string, unknown> = {}) =>
  normalised({ model: "gpt-image-1", prompt, ...extra });

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

function lastBody(): Record<string, unknown> {
  return emu.requests.at(-1)!.json!;
}

describe("openai provider: success", () => {
  it("one gpt-image-1 image: b64_json decoded, probed, no response_format sent", async () => {
    const ctx = ctxFor();
    const out = await provider.generate(
      gpt("a red fox", { size: "1536x1024", quality: "high" }),
      ctx,
    );
    expect(out).toEqual({ generated: 1, failures: [] });
    expect(ctx.images).toHaveLength(1);
    const img = ctx.images[0]!;
    expect(img).toMatchObject({ index: 0, contentType: "image/png", width: 1536, height: 1024 });
    const meta = await sharp(img.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 1536, 1024]);
    const body = lastBody();
    expect(body).toEqual({
      model: "gpt-image-1",
      prompt: "a red fox",
      n: 1,
      size: "1536x1024",
      quality: "high",
      output_format: "png",
    });
    expect(emu.requests.at(-1)!.headers.authorization).toBe(`Bearer ${emu.apiKey}`);
  });

  it("several images in one call, jpeg, auto size, progress up to 100", async () => {
    const ctx = ctxFor();
    const req = gpt("three cats", { n: 3, model_params: { output_format: "jpeg" } });
    const out = await provider.generate(req, ctx);
    expect(out.generated).toBe(3);
    expect(ctx.images.map((i) => [i.index, i.contentType, i.width])).toEqual([
      [0, "image/jpeg", 1024],
      [1, "image/jpeg", 1024],
      [2, "image/jpeg", 1024],
    ]);
    expect(lastBody()).toMatchObject({ n: 3, size: "auto", quality: "auto" });
    expect(ctx.progress.at(-1)).toBe(100);
    expect([...ctx.progress].sort((a, b) => a - b)).toEqual(ctx.progress);
  });

  it("url answers (dall-e-2, response_format url) are downloaded", async () => {
    const ctx = ctxFor({ upstreamModel: "dall-e-2", options: { response_format: "url" } });
    const req = gpt("a lake", { n: 2, size: "1024x1024" });
    const out = await provider.generate(req, ctx);
    expect(out.generated).toBe(2);
    expect(lastBody()).toMatchObject({ model: "dall-e-2", response_format: "url", n: 2 });
    expect(lastBody()).not.toHaveProperty("quality");
    expect(ctx.images.map((i) => i.contentType)).toEqual(["image/png", "image/png"]);
  });

  it("dall-e-3 makes one image per call and maps high → hd", async () => {
    const before = emu.requests.length;
    const ctx = ctxFor({ upstreamModel: "dall-e-3" });
    const out = await provider.generate(
      gpt("two owls", { n: 2, quality: "high", size: "1024x1024" }),
      ctx,
    );
    expect(out.generated).toBe(2);
    const calls = emu.requests.slice(before);
    expect(calls).toHaveLength(2);
    for (const c of calls)
      expect(c.json).toMatchObject({ n: 1, quality: "hd", response_format: "b64_json" });
    expect(ctx.images.map((i) => i.index)).toEqual([0, 1]);
  });

  it("a seedream model routed to an OpenAI-compatible server sends its resolved WxH", async () => {
    const ctx = ctxFor({ upstreamModel: "seedream-compat" });
    const req = normalised({
      model: "doubao-seedream-4.0",
      prompt: "wide",
      size: "16:9",
      quality: "1K",
    });
    const out = await provider.generate(req, ctx);
    expect(out.generated).toBe(1);
    expect(lastBody()).toEqual({
      model: "seedream-compat",
      prompt: "wide",
      n: 1,
      size: "1280x720",
      response_format: "b64_json",
    });
    expect(ctx.images[0]).toMatchObject({ width: 1280, height: 720 });
  });

  it("fewer images than asked: the rest are failures and nothing is asked again", async () => {
    const before = emu.requests.length;
    const ctx = ctxFor();
    const out = await provider.generate(gpt("[openai:count=1] pair", { n: 2 }), ctx);
    expect(out.generated).toBe(1);
    expect(out.failures).toEqual([
      expect.objectContaining({ index: 1, code: "generation_failed_no_content" }),
    ]);
    expect(emu.requests.length - before).toBe(1);
  });
});

describe("openai provider: edits with reference images", () => {
  it("posts multipart to /v1/images/edits with one image[] part per reference", async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#3a6" } })
      .png()
      .toBuffer();
    const jpg = await sharp(png).jpeg().toBuffer();
    const refs = [
      { data: png, contentType: "image/png", width: 64, height: 48 },
      { data: jpg, contentType: "image/jpeg", width: 64, height: 48 },
    ];
    const ctx = ctxFor({}, { referenceImages: refs });
    const out = await provider.generate(gpt("edit these", { n: 2, size: "1024x1536" }), ctx);
    expect(out.generated).toBe(2);
    const r = emu.requests.at(-1)!;
    expect(r.path).toBe("/v1/images/edits");
    expect(r.form!.images).toEqual([
      { field: "image[]", type: "image/png", bytes: png.length },
      { field: "image[]", type: "image/jpeg", bytes: jpg.length },
    ]);
    expect(r.form!.fields).toMatchObject({
      model: "gpt-image-1",
      prompt: "edit these",
      size: "1024x1536",
    });
    expect(ctx.images[1]).toMatchObject({ width: 1024, height: 1536 });
  });
});

describe("openai provider: errors", () => {
  const cases: Array<[string, string, boolean]> = [
    ["[openai:moderate]", "content_policy_violation", false],
    ["[openai:error=400,code=content_policy_violation]", "content_policy_violation", false],
    ["[openai:error=400,code=invalid_value]", "invalid_parameters", false],
    ["[openai:error=400,code=invalid_image_format]", "image_processing_error", false],
    ["[openai:error=403,code=unsupported_country_region_territory]", "service_unavailable", true],
    ["[openai:quota]", "service_unavailable", true],
    ["[openai:error=500]", "service_error", true],
    ["[openai:error=502]", "service_error", true],
    ["[openai:error=503]", "service_error", true],
  ];
  for (const [directive, code, retryable] of cases) {
    it(`${directive} → ${code}`, async () => {
      const err = await failure(provider.generate(gpt(`${directive} x`), ctxFor()));
      expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([code, retryable, false]);
      expect(err.message).not.toMatch(/127\.0\.0\.1|req_|sk-|Emulated|safety system/);
    });
  }

  it("a wrong key → service_unavailable, retryable, no upstream text", async () => {
    const err = await failure(provider.generate(gpt("x"), ctxFor({ apiKey: "sk-wrong" })));
    expect([err.code, err.retryable]).toEqual(["service_unavailable", true]);
    expect(err.message).not.toMatch(/sk-|Incorrect/);
  });

  it("an unknown upstream model (404) → service_unavailable, retryable", async () => {
    const err = await failure(provider.generate(gpt("x"), ctxFor({ upstreamModel: "gpt-nope" })));
    expect([err.code, err.retryable]).toEqual(["service_unavailable", true]);
  });

  it("429 with Retry-After → resource_exhausted carrying it", async () => {
    const err = await failure(
      provider.generate(
        gpt("[openai:error=429,code=rate_limit_exceeded,retry-after=2] x"),
        ctxFor(),
      ),
    );
    expect([err.code, err.retryable, err.retryAfterMs]).toEqual(["resource_exhausted", true, 2000]);
  });

  it("429 with retry-after-ms, and without any Retry-After", async () => {
    const a = await failure(
      provider.generate(gpt("[openai:error=429,retry-after-ms=750] x"), ctxFor()),
    );
    expect(a.retryAfterMs).toBe(750);
    const b = await failure(provider.generate(gpt("[openai:error=429] x"), ctxFor()));
    expect([b.code, b.retryAfterMs]).toEqual(["resource_exhausted", undefined]);
  });

  it("slower than the channel timeout → generation_timeout, may have charged", async () => {
    const started = Date.now();
    const err = await failure(
      provider.generate(gpt("[openai:delay=3000] slow"), ctxFor({ timeoutMs: 300 })),
    );
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([
      "generation_timeout",
      true,
      true,
    ]);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("a hang → generation_timeout", async () => {
    const err = await failure(
      provider.generate(gpt("[openai:hang] x"), ctxFor({ timeoutMs: 300 })),
    );
    expect([err.code, err.mayHaveCharged]).toEqual(["generation_timeout", true]);
  });

  it("a reset mid-body → service_error, may have charged", async () => {
    const err = await failure(provider.generate(gpt("[openai:reset] x"), ctxFor()));
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual(["service_error", true, true]);
  });

  it("malformed JSON → service_error, may have charged", async () => {
    const err = await failure(provider.generate(gpt("[openai:malformed] x"), ctxFor()));
    expect([err.code, err.mayHaveCharged]).toEqual(["service_error", true]);
  });

  it("bytes that are not an image, or a link serving HTML → service_error", async () => {
    const a = await failure(provider.generate(gpt("[openai:badimage] x"), ctxFor()));
    expect(a.code).toBe("service_error");
    const b = await failure(
      provider.generate(
        gpt("[openai:badurl] x", { size: "1024x1024" }),
        ctxFor({ upstreamModel: "dall-e-2" }),
      ),
    );
    expect(b.code).toBe("service_error");
  });

  it("nothing listening → service_unavailable, not charged", async () => {
    const err = await failure(
      provider.generate(gpt("x"), ctxFor({ baseUrl: "http://127.0.0.1:1" })),
    );
    expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([
      "service_unavailable",
      true,
      false,
    ]);
  });

  it("a cancelled task rejects with the runner's abort reason", async () => {
    const ctx = ctxFor();
    const p = provider.generate(gpt("[openai:hang] x"), ctx);
    setTimeout(() => ctx.cancel(), 50);
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: "TaskAbort", reason: "cancelled" });
  });
});
