/**
 * The `evolink` provider: another EvoLink-compatible gateway (EvoLink itself, or another
 * Darkroom) as an upstream. Submit `POST /v1/images/generations` with an
 * Idempotency-Key, poll `GET /v1/tasks/{id}` (its progress becomes ours) until
 * `completed` (download each of `results`) or `failed` (its business code becomes ours).
 *
 *   submit ──► poll … poll ──► completed ──► download results ──► images
 *     │          │    └──────► failed ──► ProviderError(upstream code)
 *     │          └─ cancelled by our caller / our deadline ──► POST /v1/tasks/{id}/cancel (darkroom only)
 *     └─ HTTP error ──► ProviderError (errors.ts)
 *
 * What the upstream promises decides what we may rely on (`options.upstream_kind`):
 * - `"evolink"` (default): EvoLink's public API is submit and poll, nothing more. A
 *   submission whose answer was lost (a crash, a lost lease) may have created and billed
 *   an upstream task, so the task is not safe to repeat: the runner fails it with a
 *   refund instead. Cancel is not forwarded (there is no call for it), so a task is
 *   cancellable only until the upstream call starts.
 * - `"darkroom"`: another Darkroom also replays the Idempotency-Key (derived from our
 *   task id) and accepts cancel. A re-run after a crash gets the same upstream task back
 *   and resumes polling it; nothing is created or charged twice. For the same reason a
 *   lost lease or a shutdown does not cancel the upstream task (whoever runs ours next
 *   picks it up); only our caller's cancel and our own timeout do.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { GenerationRequest } from "../../core/types.js";
import {
  ProviderError,
  type ChannelSettings,
  type GenerateContext,
  type GenerateOutcome,
  type Provider,
} from "../contract.js";
import {
  BadImageError,
  CallScope,
  callUpstream,
  downloadImage,
  transportError,
  UpstreamTransportError,
  type UpstreamResponse,
} from "../upstream-http.js";
import { imageNotProduced, noImageProduced, unreadableAnswer } from "../upstream-faults.js";
import {
  authHeaders,
  cancelUrl,
  idempotencyKey,
  pollIntervalMs,
  submitUrl,
  taskUrl,
  UPSTREAM_KINDS,
  upstreamKind,
} from "./api.js";
import { mapSubmitError, mapTaskFailure } from "./errors.js";
import { buildSubmitBody, parseTask, type UpstreamTask } from "./request.js";

export interface EvolinkProviderOptions {
  /** Cap on one downloaded image: default 50 MB. */
  maxImageBytes?: number;
}

const MAX_JSON_BYTES = 1024 * 1024;
/** Poll answers that may be transient (5xx, 429, a reset, garbage) tolerated in a row. */
const MAX_POLL_FAILURES = 5;

const isCancel = (reason: unknown) =>
  (reason as { name?: unknown; reason?: unknown } | null)?.name === "TaskAbort" &&
  (reason as { reason?: unknown }).reason === "cancelled";

export function createEvolinkProvider(opts: EvolinkProviderOptions = {}): Provider {
  const maxImageBytes = opts.maxImageBytes ?? 50 * 1024 * 1024;

  async function submit(
    scope: CallScope,
    req: GenerationRequest,
    ctx: GenerateContext,
  ): Promise<UpstreamTask> {
    const headers: Record<string, string> = {
      ...authHeaders(ctx.channel),
      "content-type": "application/json",
    };
    if (ctx.taskId) headers["idempotency-key"] = idempotencyKey(ctx.taskId, ctx.channel.id);
    let res: UpstreamResponse;
    try {
      res = await callUpstream(scope, {
        method: "POST",
        url: submitUrl(ctx.channel),
        headers,
        body: JSON.stringify(buildSubmitBody(req, ctx.channel)),
        maxBytes: MAX_JSON_BYTES,
      });
    } catch (err) {
      if (err instanceof UpstreamTransportError) throw transportError(err);
      throw err;
    }
    if (res.status !== 200) throw mapSubmitError(res.status, res.body, res.headers);
    const task = parseTask(res.body);
    if (!task) throw unreadableAnswer();
    return task;
  }

  /** Best effort, on its own short deadline: the task's own signal is already aborted. */
  async function cancelUpstream(channel: ChannelSettings, id: string): Promise<void> {
    const scope = new CallScope(new AbortController().signal, 5000);
    await callUpstream(scope, {
      method: "POST",
      url: cancelUrl(channel, id),
      headers: authHeaders(channel),
      maxBytes: MAX_JSON_BYTES,
    }).catch(() => undefined);
  }

  async function poll(
    scope: CallScope,
    ctx: GenerateContext,
    first: UpstreamTask,
  ): Promise<UpstreamTask> {
    const interval = pollIntervalMs(ctx.channel);
    let task = first;
    let failuresInRow = 0;
    let progress = 0;
    for (;;) {
      if (task.progress > progress) {
        progress = Math.min(99, Math.floor(task.progress));
        ctx.onProgress(progress);
      }
      if (task.status === "completed" || task.status === "failed") return task;
      await sleep(interval * (1 + failuresInRow), undefined, { signal: scope.signal }).catch(
        () => undefined,
      );
      scope.throwIfAborted();
      if (scope.timedOut) throw new UpstreamTransportError("timeout", true);
      let res: UpstreamResponse | null = null;
      try {
        res = await callUpstream(scope, {
          method: "GET",
          url: taskUrl(ctx.channel, task.id),
          headers: authHeaders(ctx.channel),
          maxBytes: MAX_JSON_BYTES,
        });
      } catch (err) {
        if (!(err instanceof UpstreamTransportError) || err.kind === "timeout") throw err;
      }
      const next = res?.status === 200 ? parseTask(res.body) : null;
      if (next && next.id === task.id) {
        task = next;
        failuresInRow = 0;
        continue;
      }
      if (res && (res.status === 401 || res.status === 403))
        throw new ProviderError(
          "service_unavailable",
          "The image service refused this channel's credentials while the task ran.",
          true,
          true,
        );
      if (res?.status === 404)
        throw new ProviderError(
          "service_error",
          "The image service lost track of the task.",
          true,
          true,
        );
      if (++failuresInRow >= MAX_POLL_FAILURES)
        throw new ProviderError(
          "service_error",
          "The image service stopped answering about the task.",
          true,
          true,
        );
    }
  }

  return {
    name: "evolink",
    // The defaults hold for the hosted EvoLink (submit and poll only); see guaranteesFor.
    safeToRepeat: false,
    canCancel: false,
    guaranteesFor(options) {
      // A Darkroom upstream replays the Idempotency-Key and stops (and refunds) on cancel.
      const darkroom = upstreamKind(options) === "darkroom";
      return { safeToRepeat: darkroom, canCancel: darkroom };
    },
    validateChannel(channel) {
      if (!channel.baseUrl) throw new Error("evolink: base_url is required");
      const kind = channel.options.upstream_kind;
      if (kind !== undefined && !(UPSTREAM_KINDS as readonly unknown[]).includes(kind))
        throw new Error(
          `evolink: options.upstream_kind must be one of ${UPSTREAM_KINDS.map((k) => `"${k}"`).join(", ")}`,
        );
      const v = channel.options.poll_interval_ms;
      if (v !== undefined && (typeof v !== "number" || !(v >= 10 && v <= 60_000)))
        throw new Error("evolink: options.poll_interval_ms must be a number from 10 to 60000");
    },
    async generate(req: GenerationRequest, ctx: GenerateContext): Promise<GenerateOutcome> {
      const scope = new CallScope(ctx.signal, ctx.channel.timeoutMs);
      const first = await submit(scope, req, ctx);
      let task: UpstreamTask;
      try {
        task = await poll(scope, ctx, first);
      } catch (err) {
        // Only a Darkroom upstream has a cancel call; EvoLink's task runs on regardless.
        const canForward = upstreamKind(ctx.channel.options) === "darkroom";
        if (canForward && (isCancel(ctx.signal.reason) || scope.timedOut))
          await cancelUpstream(ctx.channel, first.id);
        if (err instanceof UpstreamTransportError) throw transportError(err, true);
        throw err;
      }
      if (task.status === "failed") throw mapTaskFailure(task.errorCode);

      const results = task.results.slice(0, req.n);
      const failures: GenerateOutcome["failures"] = [];
      let generated = 0;
      for (const [index, url] of results.entries()) {
        try {
          const img = await downloadImage(scope, url, maxImageBytes);
          scope.throwIfAborted();
          await ctx.onImage({ index, ...img });
          generated++;
        } catch (err) {
          if (err instanceof BadImageError || err instanceof UpstreamTransportError) {
            failures.push({
              index,
              code: "service_error",
              message: "A result image could not be downloaded from the image service.",
            });
            if (err instanceof UpstreamTransportError && err.kind === "timeout")
              throw transportError(err, true);
            continue;
          }
          throw err;
        }
      }
      if (generated === 0)
        throw results.length === 0
          ? noImageProduced()
          : new ProviderError(
              "service_error",
              "The result images could not be downloaded from the image service.",
              true,
              true,
            );
      for (let i = results.length; i < req.n; i++) failures.push(imageNotProduced(i));
      return { generated, failures };
    },
  };
}
