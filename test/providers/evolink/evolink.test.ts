/**
 * The `evolink` provider against its loopback emulator: submit + poll with monotonic
 * progress, multi-image downloads, failed tasks with each business code, submit errors,
 * 429 with and without Retry-After, slowness, a hang, a reset, malformed JSON, a
 * vanished task. Against plain EvoLink (submit and poll only) the provider is neither
 * safe to repeat nor cancellable; against a Darkroom upstream (`upstream_kind:
 * "darkroom"`, the emulator's darkroomExtras) it resubmits idempotently and forwards
 * cancel.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAILURE_CODES, policyFor } from "../../../src/core/failure.js";
import { guaranteesOf, ProviderError } from "../../../src/providers/contract.js";
import { createEvolinkProvider } from "../../../src/providers/evolink/index.js";
import { startEvolinkEmulator, type EvolinkEmulator } from "../../emulators/evolink.js";
import { fakeContext, normalised } from "../../helpers/provider-context.js";

let emu: EvolinkEmulator;
/** The same API plus what a Darkroom upstream offers (idempotent replay, cancel). */
let darkroom: EvolinkEmulator;
const provider = createEvolinkProvider();
let seq = 0;

beforeAll(async () => {
  emu = await startEvolinkEmulator();
  darkroom = await startEvolinkEmulator({ darkroomExtras: true });
});
afterAll(async () => {
  await emu.close();
  await darkroom.close();
});

const ctxFor = (over: Record<string, unknown> = {}, taskId = `task-unified-1-t${++seq}`) =>
  fakeContext(
    {
      provider: "evolink",
      baseUrl: emu.url,
      apiKey: emu.apiKey,
      options: { poll_interval_ms: 20 },
      ...over,
    },
    { taskId },
  );

/** A channel whose upstream is a Darkroom, and says so. */
const darkroomCtx = (over: Record<string, unknown> = {}, taskId?: string) =>
  ctxFor(
    {
      baseUrl: darkroom.url,
      apiKey: darkroom.apiKey,
      options: { poll_interval_ms: 20, upstream_kind: "darkroom" },
      ...over,
    },
    taskId,
  );

const seedream = (prompt: string, extra: Record<string, unknown> = {}) =>
  normalised({ model: "doubao-seedream-4.0", prompt, ...extra });

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

const lastTask = () => [...emu.tasks.values()].at(-1)!;

describe("evolink provider: success", () => {
  it("submits the public fields, polls with monotonic progress, downloads the image", async () => {
    const ctx = ctxFor();
    const req = seedream("[evolink:polls=4] a lighthouse", {
      size: "16:9",
      quality: "1K",
      prompt_priority: "fast",
      image_urls: ["https://example.com/ref.png"],
    });
    const out = await provider.generate(req, ctx);
    expect(out).toEqual({ generated: 1, failures: [] });
    const t = lastTask();
    expect(t.body).toEqual({
      model: "doubao-seedream-4.0",
      prompt: "[evolink:polls=4] a lighthouse",
      n: 1,
      size: "16:9",
      quality: "1K",
      prompt_priority: "fast",
      image_urls: ["https://example.com/ref.png"],
    });
    expect(emu.served.get(t.id)).toEqual([25, 50, 75, 100]);
    expect(ctx.progress).toEqual([25, 50, 75, 99]);
    const img = ctx.images[0]!;
    expect(img).toMatchObject({ index: 0, contentType: "image/jpeg", width: 96, height: 64 });
    expect((await sharp(img.data).metadata()).format).toBe("jpeg");
  });

  it("several results, the upstream model id from the channel, fewer than asked", async () => {
    const ctx = ctxFor({ upstreamModel: "gpt-image-1" });
    const out = await provider.generate(seedream("[evolink:generate=2] trio", { n: 3 }), ctx);
    expect(out.generated).toBe(2);
    expect(out.failures).toEqual([
      expect.objectContaining({ index: 2, code: "generation_failed_no_content" }),
    ]);
    expect(lastTask().body.model).toBe("gpt-image-1");
    expect(ctx.images.map((i) => i.index)).toEqual([0, 1]);
  });

  it("a Darkroom upstream: a re-run of the same task reuses its upstream task (Idempotency-Key)", async () => {
    const before = darkroom.tasks.size;
    const req = seedream("[evolink:polls=2] once");
    const a = darkroomCtx({}, "task-unified-1700000000-idemp001");
    await provider.generate(req, a);
    const b = darkroomCtx({}, "task-unified-1700000000-idemp001");
    await provider.generate(req, b);
    expect(darkroom.tasks.size - before).toBe(1);
    const keys = darkroom.submissions.slice(-2).map((s) => s.headers["idempotency-key"]);
    expect(keys[0]).toBe("darkroom:task-unified-1700000000-idemp001:evolink-test");
    expect(keys[1]).toBe(keys[0]);
    expect(b.images).toHaveLength(1);
    // Another channel (failover) is another key: a fresh upstream task.
    await provider.generate(
      req,
      darkroomCtx({ id: "evolink-b" }, "task-unified-1700000000-idemp001"),
    );
    expect(darkroom.tasks.size - before).toBe(2);
  });

  it("plain EvoLink ignores the Idempotency-Key: a re-run would create (and bill) a second task", async () => {
    const before = emu.tasks.size;
    const req = seedream("[evolink:polls=1] twice");
    await provider.generate(req, ctxFor({}, "task-unified-1700000000-idemp002"));
    await provider.generate(req, ctxFor({}, "task-unified-1700000000-idemp002"));
    expect(emu.tasks.size - before).toBe(2);
    // Which is why the provider does not promise a free repeat, nor a cancel, there.
    expect([provider.safeToRepeat, provider.canCancel]).toEqual([false, false]);
    expect(guaranteesOf(provider, { poll_interval_ms: 20 })).toEqual({
      safeToRepeat: false,
      canCancel: false,
    });
    expect(guaranteesOf(provider, { upstream_kind: "evolink" })).toEqual({
      safeToRepeat: false,
      canCancel: false,
    });
    expect(guaranteesOf(provider, { upstream_kind: "darkroom" })).toEqual({
      safeToRepeat: true,
      canCancel: true,
    });
  });

  it("upstream_kind is checked when the channel is loaded", () => {
    const check = (options: Record<string, unknown>) => () =>
      provider.validateChannel!({ baseUrl: "https://x.example", options });
    expect(check({ upstream_kind: "darkroom" })).not.toThrow();
    expect(check({ upstream_kind: "evolink" })).not.toThrow();
    expect(check({})).not.toThrow();
    expect(check({ upstream_kind: "Darkroom" })).toThrow(/options\.upstream_kind/);
    expect(check({ upstream_kind: true })).toThrow(/options\.upstream_kind/);
  });

  it("a transient poll failure (503) is ridden out", async () => {
    const ctx = ctxFor();
    const out = await provider.generate(seedream("[evolink:pollerror=503,polls=2] x"), ctx);
    expect(out.generated).toBe(1);
  });
});

describe("evolink provider: failed upstream tasks", () => {
  const codes = FAILURE_CODES.filter((c) => c !== "request_cancelled");
  for (const code of codes) {
    it(`failed with ${code} → ${code}, retryable per our policy, not charged`, async () => {
      const err = await failure(
        provider.generate(seedream(`[evolink:fail=${code},polls=1] x`), ctxFor()),
      );
      expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([
        code,
        policyFor(code).retryable,
        false,
      ]);
      expect(err.message).not.toMatch(/Emulated|127\.0\.0\.1/);
    });
  }

  it("an unknown business code → unknown_error", async () => {
    const err = await failure(
      provider.generate(seedream("[evolink:fail=weird_code,polls=1] x"), ctxFor()),
    );
    expect(err.code).toBe("unknown_error");
  });

  it("cancelled upstream by someone else → service_error", async () => {
    const err = await failure(
      provider.generate(seedream("[evolink:fail=request_cancelled,polls=1] x"), ctxFor()),
    );
    expect([err.code, err.retryable]).toEqual(["service_error", true]);
  });

  it("the task vanishes (404 on poll) → service_error, may have charged", async () => {
    const err = await failure(provider.generate(seedream("[evolink:vanish] x"), ctxFor()));
    expect([err.code, err.mayHaveCharged]).toEqual(["service_error", true]);
  });

  it("result links that serve HTML → service_error", async () => {
    const err = await failure(
      provider.generate(seedream("[evolink:badresult,polls=1] x"), ctxFor()),
    );
    expect([err.code, err.mayHaveCharged]).toEqual(["service_error", true]);
  });
});

describe("evolink provider: submission errors", () => {
  const cases: Array<[string, string, boolean]> = [
    ["error=400,code=invalid_request,param=size", "invalid_parameters", false],
    ["error=400,code=invalid_request,param=image_urls", "image_processing_error", false],
    ["error=402,code=insufficient_quota", "service_unavailable", true],
    ["error=403,code=model_access_denied", "service_unavailable", true],
    ["error=500,code=internal_error", "service_error", true],
    ["error=503,code=service_unavailable", "service_unavailable", true],
  ];
  for (const [d, code, retryable] of cases) {
    it(`${d} → ${code}`, async () => {
      const err = await failure(provider.generate(seedream(`[evolink:${d}] x`), ctxFor()));
      expect([err.code, err.retryable, err.mayHaveCharged]).toEqual([code, retryable, false]);
    });
  }

  it("a wrong key (401) and an unknown upstream model (404) → service_unavailable", async () => {
    const a = await failure(provider.generate(seedream("x"), ctxFor({ apiKey: "sk-nope" })));
    expect([a.code, a.retryable]).toEqual(["service_unavailable", true]);
    const b = await failure(provider.generate(seedream("x"), ctxFor({ upstreamModel: "nope" })));
    expect([b.code, b.retryable]).toEqual(["service_unavailable", true]);
  });

  it("429 with and without Retry-After → resource_exhausted", async () => {
    const a = await failure(
      provider.generate(
        seedream("[evolink:error=429,code=rate_limit_exceeded,retry-after=3] x"),
        ctxFor(),
      ),
    );
    expect([a.code, a.retryable, a.retryAfterMs]).toEqual(["resource_exhausted", true, 3000]);
    const b = await failure(provider.generate(seedream("[evolink:error=429] x"), ctxFor()));
    expect([b.code, b.retryAfterMs]).toEqual(["resource_exhausted", undefined]);
  });

  it("slow submission past the timeout, and a hang → generation_timeout", async () => {
    const a = await failure(
      provider.generate(seedream("[evolink:delay=3000] x"), ctxFor({ timeoutMs: 300 })),
    );
    expect([a.code, a.mayHaveCharged]).toEqual(["generation_timeout", true]);
    const b = await failure(
      provider.generate(seedream("[evolink:hang] x"), ctxFor({ timeoutMs: 300 })),
    );
    expect(b.code).toBe("generation_timeout");
  });

  it("a reset and malformed JSON → service_error, may have charged", async () => {
    const a = await failure(provider.generate(seedream("[evolink:reset] x"), ctxFor()));
    expect([a.code, a.mayHaveCharged]).toEqual(["service_error", true]);
    const b = await failure(provider.generate(seedream("[evolink:malformed] x"), ctxFor()));
    expect([b.code, b.mayHaveCharged]).toEqual(["service_error", true]);
  });
});

describe("evolink provider: cancel and deadline (Darkroom upstream)", () => {
  it("our caller's cancel is forwarded upstream and the runner's reason rethrown", async () => {
    const ctx = darkroomCtx();
    const p = provider.generate(seedream("[evolink:stall] x"), ctx);
    const deadline = Date.now() + 5000;
    while (ctx.progress.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    ctx.cancel();
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: "TaskAbort", reason: "cancelled" });
    const t = [...darkroom.tasks.values()].at(-1)!;
    expect(darkroom.cancels).toContain(t.id);
    expect(t.errorCode).toBe("request_cancelled");
  });

  it("a lost lease does not cancel upstream (the next run resumes the task)", async () => {
    const { TaskAbort } = await import("../../../src/runner/runner.js");
    const ctx = darkroomCtx();
    const p = provider.generate(seedream("[evolink:stall] y"), ctx);
    const deadline = Date.now() + 5000;
    while (ctx.progress.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    ctx.controller.abort(new TaskAbort("lease_lost"));
    await p.catch(() => undefined);
    expect(darkroom.cancels).not.toContain([...darkroom.tasks.values()].at(-1)!.id);
  });

  it("a task still running at the channel timeout → generation_timeout and cancelled upstream", async () => {
    const err = await failure(
      provider.generate(seedream("[evolink:stall] z"), darkroomCtx({ timeoutMs: 300 })),
    );
    expect([err.code, err.mayHaveCharged]).toEqual(["generation_timeout", true]);
    expect(darkroom.cancels).toContain([...darkroom.tasks.values()].at(-1)!.id);
  });
});

describe("evolink provider: no cancel call on plain EvoLink", () => {
  it("a task still running at the channel timeout → generation_timeout, may have charged, no cancel sent", async () => {
    const err = await failure(
      provider.generate(seedream("[evolink:stall] plain"), ctxFor({ timeoutMs: 300 })),
    );
    expect([err.code, err.mayHaveCharged]).toEqual(["generation_timeout", true]);
    expect(emu.cancels).not.toContain(lastTask().id);
  });

  it("the emulator, like EvoLink, has no cancel call and never offers one", async () => {
    await failure(provider.generate(seedream("[evolink:stall] p2"), ctxFor({ timeoutMs: 200 })));
    const t = lastTask();
    const r = await fetch(`${emu.url}/v1/tasks/${t.id}/cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${emu.apiKey}` },
    });
    expect(r.status).toBe(404);
    const view = (await (
      await fetch(`${emu.url}/v1/tasks/${t.id}`, {
        headers: { authorization: `Bearer ${emu.apiKey}` },
      })
    ).json()) as { task_info: { can_cancel: boolean }; status: string };
    expect([view.status, view.task_info.can_cancel]).toEqual(["processing", false]);
  });
});
