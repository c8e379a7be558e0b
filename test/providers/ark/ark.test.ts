/**
 * The ark provider against the Ark emulator (real HTTP on 127.0.0.1): success, sets,
 * partial failure, every error class of upstreams.md §1, timeouts, disconnects,
 * cancellation, and the request fields we promise to send.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  arkSetSize,
  startArkEmulator,
  type ArkEmulator,
  type RecordedRequest,
} from "../../emulators/ark.js";
import { ark, fakeCtx, genReq, nextEvent, pngReference, run, runFailing } from "./ark-helpers.js";

let emu: ArkEmulator;
beforeAll(async () => {
  emu = await startArkEmulator({ notOpenModels: ["seedream-4-0-closed"] });
});
afterAll(async () => {
  await emu.close();
});

/** The recorded request whose prompt contains this marker. */
function sent(marker: string): RecordedRequest {
  const r = emu.requests.find((q) => String(q.body?.prompt ?? "").includes(marker));
  if (!r) throw new Error(`no request with ${marker}`);
  return r;
}

const JPEG = [0xff, 0xd8, 0xff];
const isJpeg = (b: Buffer) => JPEG.every((x, i) => b[i] === x);

describe("ark: success", () => {
  it("one image over SSE (the default), stored as a real JPEG with progress", async () => {
    const r = await run(emu, { prompt: "single-sse #s1" });
    expect(r.outcome).toEqual({ generated: 1, failures: [] });
    expect(r.images).toHaveLength(1);
    expect(r.images[0]!.index).toBe(0);
    expect(r.images[0]!.contentType).toBe("image/jpeg");
    expect(isJpeg(r.images[0]!.data)).toBe(true);
    expect(r.images[0]!.width).toBeGreaterThan(0);
    expect(r.progress.at(-1)).toBe(100);
    const q = sent("#s1");
    expect(q.headers.authorization).toBe(`Bearer ${emu.apiKey}`);
    expect(q.headers["content-type"]).toBe("application/json");
    expect(q.body).toMatchObject({
      model: "doubao-seedream-4-0-250828",
      prompt: "single-sse #s1",
      size: "1024x1024",
      sequential_image_generation: "disabled",
      stream: true,
      response_format: "b64_json",
      watermark: false,
    });
    expect(q.body).not.toHaveProperty("sequential_image_generation_options");
    expect(q.body).not.toHaveProperty("optimize_prompt_options");
  });

  it("n images over SSE: a sequential set with max_images = n, progress per image", async () => {
    const r = await run(emu, { prompt: "multi-sse #s2", n: 3 });
    expect(r.outcome).toEqual({ generated: 3, failures: [] });
    expect(r.images.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(r.progress).toEqual([33, 66, 100]);
    expect(sent("#s2").body).toMatchObject({
      sequential_image_generation: "auto",
      sequential_image_generation_options: { max_images: 3 },
    });
  });

  it("n images without streaming (one JSON answer)", async () => {
    const r = await run(emu, { prompt: "multi-json #s3", n: 2 }, { options: { stream: false } });
    expect(r.outcome).toEqual({ generated: 2, failures: [] });
    expect(r.images.every((i) => isJpeg(i.data))).toBe(true);
    expect(sent("#s3").body?.stream).toBe(false);
  });

  it.each([true, false])("url results are downloaded at once (stream=%s)", async (stream) => {
    const before = emu.downloads;
    const prompt = `url-${stream} #s4${stream}`;
    // Ark may make fewer than asked; the emulator decides from the prompt, deterministically.
    const made = arkSetSize(prompt, 2);
    const r = await run(emu, { prompt, n: 2 }, { options: { response_format: "url", stream } });
    expect(r.outcome.generated).toBe(made);
    expect(r.images.every((i) => isJpeg(i.data))).toBe(true);
    expect(emu.downloads - before).toBe(made);
    expect(sent(`#s4${stream}`).body?.response_format).toBe("url");
  });

  it("an image whose url is broken fails alone; with none left the task fails", async () => {
    const r = await run(
      emu,
      { prompt: "[ark:url-broken] #s5", n: 1 },
      { options: { response_format: "url" } },
    ).catch((e: unknown) => e);
    // Ark made (and billed) the image: never repeated on another channel.
    expect(r).toMatchObject({ code: "service_error", retryable: false, mayHaveCharged: true });
  });

  it("the model making fewer images than asked: the rest are no-content failures", async () => {
    const r = await run(emu, { prompt: "[ark:generate=2] #s6", n: 4 });
    expect(r.outcome.generated).toBe(2);
    expect(r.outcome.failures.map((f) => [f.index, f.code])).toEqual([
      [2, "generation_failed_no_content"],
      [3, "generation_failed_no_content"],
    ]);
  });
});

describe("ark: partial failures", () => {
  it.each([true, false])(
    "one moderated image does not stop the set; the charge follows the rest (stream=%s)",
    async (stream) => {
      const r = await run(emu, { prompt: "[ark:moderate=1] cats", n: 3 }, { options: { stream } });
      expect(r.outcome.generated).toBe(2);
      expect(r.images.map((i) => i.index)).toEqual([0, 2]);
      expect(r.outcome.failures).toEqual([
        { index: 1, code: "content_policy_violation", message: expect.any(String) },
      ]);
    },
  );

  it.each([true, false])(
    "an internal error mid-set keeps the images made so far (stream=%s)",
    async (stream) => {
      const r = await run(
        emu,
        { prompt: "[ark:internal-after=1] dogs", n: 4 },
        { options: { stream } },
      );
      expect(r.outcome.generated).toBe(1);
      expect(r.outcome.failures.map((f) => [f.index, f.code])).toEqual([
        [1, "service_error"],
        [2, "service_error"],
        [3, "service_error"],
      ]);
    },
  );

  it("an internal error on the only image fails the task, retryable, nothing charged", async () => {
    const e = await runFailing(emu, { prompt: "[ark:internal-after=0] one" });
    expect(e).toMatchObject({ code: "service_error", retryable: true, mayHaveCharged: false });
  });

  it("a moderated single image fails with content_policy_violation, not retryable", async () => {
    const e = await runFailing(emu, { prompt: "[ark:moderate=0] one" });
    expect(e).toMatchObject({ code: "content_policy_violation", retryable: false });
  });

  it("an SSE error event after one image keeps it and fails the rest with its class", async () => {
    const r = await run(emu, { prompt: "[ark:stream-error=ServerOverloaded,after=1] x", n: 3 });
    expect(r.outcome.generated).toBe(1);
    expect(r.outcome.failures.map((f) => f.code)).toEqual([
      "resource_exhausted",
      "resource_exhausted",
    ]);
    const e = await runFailing(emu, { prompt: "[ark:stream-error=ServerOverloaded,after=0] y" });
    expect(e).toMatchObject({ code: "resource_exhausted", retryable: true, mayHaveCharged: false });
  });
});

const TABLE: Array<[number, string, string, boolean]> = [
  [400, "InputTextSensitiveContentDetected", "content_policy_violation", false],
  [400, "InputImageSensitiveContentDetected.PrivacyInformation", "content_policy_violation", false],
  [400, "OutputImageSensitiveContentDetected", "content_policy_violation", false],
  [400, "InputTextRiskDetection", "content_policy_violation", false],
  [400, "SensitiveContentDetected.SevereViolation", "content_policy_violation", false],
  [400, "InvalidParameter.UnsupportedSize", "invalid_parameters", false],
  [400, "MissingParameter", "invalid_parameters", false],
  [400, "InvalidImageURL.EmptyURI", "image_processing_error", false],
  [401, "AuthenticationError", "service_unavailable", true],
  [403, "AccessDenied", "service_unavailable", true],
  [403, "AccountOverdueError", "service_unavailable", true],
  [403, "OperationDenied.ServiceNotOpen", "service_unavailable", true],
  [404, "InvalidEndpointOrModel.NotFound", "service_unavailable", true],
  [404, "ModelNotOpen", "service_unavailable", true],
  [429, "RateLimitExceeded.EndpointRPMExceeded", "resource_exhausted", true],
  [429, "ModelAccountTpmRateLimitExceeded", "resource_exhausted", true],
  [429, "QuotaExceeded", "resource_exhausted", true],
  [429, "ServerOverloaded", "resource_exhausted", true],
  [429, "InflightBatchsizeExceeded", "resource_exhausted", true],
  [500, "InternalServiceError", "service_error", true],
  [503, "ServiceUnavailable", "service_error", true],
];

describe("ark: every error class of the mapping table, over HTTP", () => {
  it.each(TABLE)("%i %s → %s (retryable %s)", async (status, code, ours, retryable) => {
    const e = await runFailing(emu, { prompt: `[ark:error=${status},${code}] err` });
    expect(e.code).toBe(ours);
    expect(e.retryable).toBe(retryable);
    expect(e.mayHaveCharged).toBe(false);
    // Never upstream detail, hosts, keys or request ids.
    expect(e.message).not.toMatch(/Request ID|127\.0\.0\.1|Emulated|ark-emulator-key/i);
  });

  it("429 with Retry-After gives retryAfterMs; without it, none", async () => {
    const a = await runFailing(emu, { prompt: "[ark:error=429,RateLimitExceeded,retry-after=2]" });
    expect(a).toMatchObject({ code: "resource_exhausted", retryable: true, retryAfterMs: 2000 });
    const b = await runFailing(emu, { prompt: "[ark:error=429,RateLimitExceeded] b" });
    expect(b.retryAfterMs).toBeUndefined();
  });

  it("a wrong key is the operator's problem and never shows the key", async () => {
    const e = await runFailing(emu, { prompt: "wrong key" }, { apiKey: "sk-secret-wrong-key" });
    expect(e).toMatchObject({ code: "service_unavailable", retryable: true });
    expect(e.message).not.toContain("sk-secret-wrong-key");
  });

  it("the emulator's own validation: not-open model, empty prompt, bad size", async () => {
    const a = await runFailing(emu, { prompt: "closed" }, { upstreamModel: "seedream-4-0-closed" });
    expect(a).toMatchObject({ code: "service_unavailable", retryable: true });
    const b = await runFailing(emu, { prompt: "" });
    expect(b).toMatchObject({ code: "invalid_parameters", retryable: false });
    const c = await runFailing(emu, {
      prompt: "tiny",
      size: { kind: "pixels", width: 100, height: 100 },
    });
    expect(c).toMatchObject({ code: "invalid_parameters", retryable: false });
  });

  it("an unreachable upstream is retryable and charged nothing", async () => {
    const gone = await startArkEmulator();
    const url = gone.url;
    await gone.close();
    const e = await runFailing({ ...emu, url } as ArkEmulator, { prompt: "nobody home" });
    expect(e).toMatchObject({ code: "service_error", retryable: true, mayHaveCharged: false });
    expect(e.message).not.toContain("127.0.0.1");
  });

  it("a misconfigured channel is service_unavailable", async () => {
    const e = await runFailing(emu, { prompt: "x" }, { options: { watermark: "yes" } });
    expect(e).toMatchObject({ code: "service_unavailable", retryable: true });
  });
});

describe("ark: slowness, hangs and broken connections", () => {
  it.each([true, false])(
    "an upstream slower than the channel timeout → generation_timeout, may have charged (stream=%s)",
    async (stream) => {
      const marker = `#slow${stream}`;
      const gone = nextEvent<RecordedRequest>(emu, "disconnect", (r) =>
        String(r.body?.prompt).includes(marker),
      );
      const e = await runFailing(
        emu,
        { prompt: `[ark:delay=5000] ${marker}` },
        { timeoutMs: 300, options: { stream } },
      );
      expect(e).toMatchObject({
        code: "generation_timeout",
        retryable: false,
        mayHaveCharged: true,
      });
      await gone; // the emulator saw us leave
    },
  );

  it("a hang is cut by the timeout", async () => {
    const started = Date.now();
    const e = await runFailing(emu, { prompt: "[ark:hang] #hang" }, { timeoutMs: 300 });
    expect(e.code).toBe("generation_timeout");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a timeout mid-set keeps the images already streamed", async () => {
    // 10 images at 200 ms each cannot all arrive within 1 s; the first surely does.
    const r = await run(emu, { prompt: "[ark:delay=200] partial", n: 10 }, { timeoutMs: 1000 });
    expect(r.outcome.generated).toBeGreaterThanOrEqual(1);
    expect(r.outcome.generated).toBeLessThan(10);
    expect(r.outcome.failures.every((f) => f.code === "generation_timeout")).toBe(true);
    expect(r.outcome.generated + r.outcome.failures.length).toBe(10);
  });

  it("a timeout while downloading a url image fails that image and the rest", async () => {
    const r = await run(
      emu,
      { prompt: "[ark:download-delay=5000,from=1] dl", n: 3 },
      { timeoutMs: 800, options: { response_format: "url" } },
    );
    expect(r.outcome.generated).toBe(1);
    expect(r.outcome.failures.map((f) => [f.index, f.code])).toEqual([
      [1, "generation_timeout"],
      [2, "generation_timeout"],
    ]);
  });

  it("a connection reset mid-body (JSON) → service_error, may have charged, not retried", async () => {
    const e = await runFailing(
      emu,
      { prompt: "[ark:reset-mid-body] r", n: 2 },
      { options: { stream: false } },
    );
    expect(e).toMatchObject({ code: "service_error", retryable: false, mayHaveCharged: true });
  });

  it("a connection reset mid-stream keeps the image already received", async () => {
    const r = await run(emu, { prompt: "[ark:reset-mid-body] s", n: 3 });
    expect(r.outcome.generated).toBe(1);
    expect(r.outcome.failures.map((f) => f.code)).toEqual(["service_error", "service_error"]);
  });

  it.each([true, false])(
    "malformed JSON → service_error, may have charged (stream=%s)",
    async (stream) => {
      const e = await runFailing(emu, { prompt: "[ark:malformed] m" }, { options: { stream } });
      expect(e).toMatchObject({ code: "service_error", retryable: false, mayHaveCharged: true });
      expect(e.message).not.toMatch(/\{|Request ID/);
    },
  );

  it("an SSE stream cut before completed: what arrived is kept, the rest failed", async () => {
    const r = await run(emu, { prompt: "[ark:cut-stream][ark:generate=1] c", n: 3 });
    expect(r.outcome.generated).toBe(1);
    expect(r.outcome.failures.map((f) => f.code)).toEqual(["service_error", "service_error"]);
    const e = await runFailing(emu, { prompt: "[ark:cut-stream][ark:moderate=0] d" });
    expect(e).toMatchObject({ code: "service_error", mayHaveCharged: true, retryable: false });
  });

  it("a single image whose stream has no completed event but ends with [DONE] is fine", async () => {
    const r = await run(emu, { prompt: "no completed for one" });
    expect(r.outcome).toEqual({ generated: 1, failures: [] });
  });

  it("cancelling (the abort signal) disconnects from the upstream", async () => {
    const ac = new AbortController();
    const arrived = nextEvent<RecordedRequest>(emu, "request", (r) =>
      String(r.body?.prompt).includes("#cancel"),
    );
    const gone = nextEvent<RecordedRequest>(emu, "disconnect", (r) =>
      String(r.body?.prompt).includes("#cancel"),
    );
    const r = fakeCtx(emu, { signal: ac.signal, timeoutMs: 60_000 });
    const p = ark.generate(genReq({ prompt: "[ark:hang] #cancel" }), r.ctx);
    await arrived;
    const reason = new Error("cancelled by test");
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    await gone;
  });
});

describe("ark: the request fields we promise", () => {
  it("watermark is always explicit and follows the channel option", async () => {
    await run(emu, { prompt: "#wm-on" }, { options: { watermark: true } });
    await run(emu, { prompt: "#wm-default" });
    expect(sent("#wm-on").body?.watermark).toBe(true);
    expect(sent("#wm-default").body).toHaveProperty("watermark", false);
  });

  it("prompt_priority fast → optimize_prompt_options.mode fast, only where the model has it", async () => {
    await run(emu, { prompt: "#fast40", promptPriority: "fast" });
    expect(sent("#fast40").body?.optimize_prompt_options).toEqual({ mode: "fast" });
    await run(
      emu,
      {
        prompt: "#fast45",
        promptPriority: "fast",
        size: { kind: "tier", tier: "2K", width: 2048, height: 2048 },
      },
      { upstreamModel: "doubao-seedream-4-5-251128" },
    );
    expect(sent("#fast45").body).not.toHaveProperty("optimize_prompt_options");
    await run(emu, { prompt: "#standard", promptPriority: "standard" });
    expect(sent("#standard").body).not.toHaveProperty("optimize_prompt_options");
  });

  it("reference images go as data URLs: a string for one, an array for several", async () => {
    const a = await pngReference(64, 48);
    const b = await pngReference(32, 32);
    await run(emu, { prompt: "#ref1" }, { referenceImages: [a] });
    await run(emu, { prompt: "#ref2", n: 2 }, { referenceImages: [a, b] });
    const one = sent("#ref1").body?.image;
    expect(one).toBe(`data:image/png;base64,${a.data.toString("base64")}`);
    const two = sent("#ref2").body?.image as string[];
    expect(two).toHaveLength(2);
    expect(two[1]).toBe(`data:image/png;base64,${b.data.toString("base64")}`);
  });

  it("seedream 5.0 lite output_format png comes back as PNG", async () => {
    const r = await run(
      emu,
      {
        prompt: "#png",
        model: "doubao-seedream-5.0-lite",
        modelParams: { output_format: "png" },
        size: { kind: "tier", tier: "2K", width: 2048, height: 2048 },
      },
      { upstreamModel: "doubao-seedream-5-0-260128" },
    );
    expect(sent("#png").body?.output_format).toBe("png");
    expect(r.images[0]!.contentType).toBe("image/png");
  });

  it("size: tiers as tiers, 3K and ratios and auto as explicit pixels", async () => {
    await run(emu, {
      prompt: "#tier",
      size: { kind: "tier", tier: "2K", width: 2048, height: 2048 },
    });
    await run(emu, { prompt: "#auto", size: { kind: "auto", width: 2048, height: 2048 } });
    await run(emu, {
      prompt: "#ratio",
      size: { kind: "ratio", ratio: "16:9", quality: "2K", width: 2848, height: 1600 },
    });
    expect(sent("#tier").body?.size).toBe("2K");
    expect(sent("#auto").body?.size).toBe("2048x2048");
    expect(sent("#ratio").body?.size).toBe("2848x1600");
  });
});

describe("ark: provider contract and emulator faithfulness", () => {
  it("cannot cancel a started call and is never repeated after a crash", () => {
    expect(ark.name).toBe("ark");
    expect(ark.safeToRepeat).toBe(false);
    expect(ark.canCancel).toBe(false);
  });

  it("validateChannel names the bad option", () => {
    expect(() => ark.validateChannel?.({ baseUrl: emu.url, options: { stream: "no" } })).toThrow(
      /options\.stream must be a boolean/,
    );
    expect(() => ark.validateChannel?.({ baseUrl: null, options: {} })).toThrow(/base_url/);
    // Ark needs its own model (or endpoint) id: our model name means nothing to it.
    expect(() => ark.validateChannel?.({ baseUrl: emu.url, options: {} })).toThrow(
      /upstream_model is required/,
    );
    expect(() =>
      ark.validateChannel?.({ baseUrl: emu.url, upstreamModel: null, options: {} }),
    ).toThrow(/upstream_model is required/);
    expect(() =>
      ark.validateChannel?.({
        baseUrl: emu.url,
        upstreamModel: "doubao-seedream-4-0-250828",
        options: { watermark: true, response_format: "url" },
      }),
    ).not.toThrow();
  });

  it("the emulator answers errors in Ark's shape, with a request id in the message", async () => {
    const res = await fetch(`${emu.url}/api/v3/images/generations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "seedream-4-0-250828", prompt: "x" }),
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: Record<string, string> };
    expect(body.error.code).toBe("AuthenticationError");
    expect(body.error.message).toMatch(/Request ID: [0-9a-f]+$/);
    expect(body.error).toHaveProperty("param");
    expect(body.error).toHaveProperty("type");
    const missing = await fetch(`${emu.url}/api/v3/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${emu.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "seedream-4-0-250828" }),
    });
    expect(missing.status).toBe(400);
    expect(
      ((await missing.json()) as { error: { code: string; param: string } }).error,
    ).toMatchObject({
      code: "MissingParameter",
      param: "prompt",
    });
  });
});

describe("ark emulator under load", () => {
  it("holds 500 concurrent calls with tiny images and answers them all", async () => {
    const big = await startArkEmulator({ tinyImages: true, record: false });
    try {
      let peak = 0;
      const calls = Array.from({ length: 500 }, (_, i) => {
        const r = fakeCtx(big, { timeoutMs: 20_000 });
        return ark.generate(genReq({ prompt: `[ark:hold=1000] load ${i}` }), r.ctx).finally(() => {
          peak = Math.max(peak, big.inFlight());
        });
      });
      const outcomes = await Promise.all(calls);
      expect(outcomes.every((o) => o.generated === 1)).toBe(true);
      expect(peak).toBeGreaterThan(100); // they really were held at the same time
      expect(big.requests).toHaveLength(0); // record: false keeps nothing per request
      const deadline = Date.now() + 5_000;
      while (big.inFlight() > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      expect(big.inFlight()).toBe(0);
    } finally {
      await big.close();
    }
  });
});

describe("ark: odd answers", () => {
  it("an image over max_image_bytes is refused alone, as charged", async () => {
    const e = await runFailing(emu, { prompt: "cap" }, { options: { max_image_bytes: 100 } });
    expect(e).toMatchObject({ code: "service_error", retryable: false, mayHaveCharged: true });
  });

  it("a 200 carrying an Ark error body is classified, not charged", async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ error: { code: "ServerOverloaded", message: "busy. Request ID: 1" } }),
      );
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const e = await runFailing({ ...emu, url } as ArkEmulator, { prompt: "odd" });
      expect(e).toMatchObject({
        code: "resource_exhausted",
        retryable: true,
        mayHaveCharged: false,
      });
    } finally {
      server.close();
    }
  });

  it("a storage failure in onImage is passed through, not blamed on the upstream", async () => {
    const r = fakeCtx(emu);
    const diskFull = new Error("ENOSPC: no space left on device");
    r.ctx.onImage = async () => {
      throw diskFull;
    };
    await expect(ark.generate(genReq({ prompt: "disk full" }), r.ctx)).rejects.toBe(diskFull);
  });
});
