/**
 * Calls to an upstream's HTTP API, shared by the HTTP providers (openai, evolink).
 *
 * Upstream base URLs are chosen by the operator and trusted (they may be on a private
 * network), so this is plain undici, not the safe fetcher of src/net (which is for URLs
 * that users choose). What it adds: one deadline for the whole task (the channel's
 * timeout) combined with the task's own abort signal, byte caps on every body, an image
 * check by content bytes, and a classification of transport failures that says whether
 * the request may already have reached the upstream (and so may have cost money).
 */
import { request, type FormData } from "undici";
import { ProviderError } from "./contract.js";
import { errorCodes, NEVER_REACHED_CODES } from "./http-faults.js";

/** The task's abort signal plus the channel's deadline, as one signal. */
export class CallScope {
  private readonly deadline: AbortSignal;
  readonly signal: AbortSignal;

  constructor(
    /** Aborted when the task is cancelled, the lease is lost or the runner stops. */
    readonly outer: AbortSignal,
    readonly timeoutMs: number,
  ) {
    this.deadline = AbortSignal.timeout(Math.max(1, timeoutMs));
    this.signal = AbortSignal.any([outer, this.deadline]);
  }

  get timedOut(): boolean {
    return this.deadline.aborted && !this.outer.aborted;
  }

  /** Throws the task's own abort reason (the runner's TaskAbort) when it was aborted. */
  throwIfAborted(): void {
    if (this.outer.aborted) throw this.outer.reason;
  }
}

export type TransportFailureKind = "timeout" | "reset" | "connect" | "too_large";

/** A call that got no complete answer. `sent`: the upstream may have received (and billed) it. */
export class UpstreamTransportError extends Error {
  constructor(
    readonly kind: TransportFailureKind,
    readonly sent: boolean,
  ) {
    super(`upstream call failed: ${kind}`);
    this.name = "UpstreamTransportError";
  }
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface UpstreamCall {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer | FormData;
  maxBytes: number;
}

/**
 * One HTTP exchange with the whole body read under a byte cap. Resolves with any
 * status (the caller maps error statuses); rejects with the task's abort reason, or an
 * UpstreamTransportError.
 */
export async function callUpstream(
  scope: CallScope,
  call: UpstreamCall,
): Promise<UpstreamResponse> {
  scope.throwIfAborted();
  if (scope.timedOut) throw new UpstreamTransportError("timeout", false);
  let sent = false;
  try {
    const res = await request(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal: scope.signal,
      headersTimeout: scope.timeoutMs,
      bodyTimeout: scope.timeoutMs,
    });
    sent = true;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > call.maxBytes) {
        res.body.destroy();
        throw new UpstreamTransportError("too_large", true);
      }
      chunks.push(b);
    }
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
  } catch (err) {
    scope.throwIfAborted();
    if (err instanceof UpstreamTransportError) throw err;
    if (scope.timedOut) throw new UpstreamTransportError("timeout", true);
    const code = errorCodes(err)[0];
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT")
      throw new UpstreamTransportError("timeout", true);
    if (!sent && code !== undefined && NEVER_REACHED_CODES.has(code))
      throw new UpstreamTransportError("connect", false);
    // Socket closed, reset, or a body cut short: the request went out, the answer did not come back.
    throw new UpstreamTransportError("reset", true);
  }
}

/** The ProviderError for a call that got no answer. */
export function transportError(
  err: UpstreamTransportError,
  mayHaveCharged = err.sent,
): ProviderError {
  switch (err.kind) {
    case "timeout":
      return new ProviderError(
        "generation_timeout",
        "The image service did not answer in time.",
        true,
        mayHaveCharged,
      );
    case "connect":
      return new ProviderError(
        "service_unavailable",
        "The image service could not be reached.",
        true,
        mayHaveCharged,
      );
    case "too_large":
      return new ProviderError(
        "service_error",
        "The image service sent a larger answer than allowed.",
        true,
        mayHaveCharged,
      );
    case "reset":
      return new ProviderError(
        "service_error",
        "The connection to the image service broke before it answered.",
        true,
        mayHaveCharged,
      );
  }
}

import { probeImage, type ProbedImage } from "../media/probe.js";

export { probeImage, type ProbedImage };

export class BadImageError extends Error {
  override name = "BadImageError";
}

/**
 * Downloads one result image from an upstream-given URL: status 200, an image/*
 * content type, at most maxBytes, and bytes that really are a JPEG, PNG or WebP.
 */
export async function downloadImage(
  scope: CallScope,
  url: string,
  maxBytes: number,
  headers: Record<string, string> = {},
): Promise<{ data: Buffer } & ProbedImage> {
  const res = await callUpstream(scope, { method: "GET", url, headers, maxBytes });
  if (res.status !== 200) throw new BadImageError(`status ${res.status}`);
  const ct = res.headers["content-type"];
  const type = (Array.isArray(ct) ? ct[0] : ct) ?? "";
  if (!/^image\//i.test(type.trim())) throw new BadImageError("not an image content type");
  const probed = probeImage(res.body);
  if (!probed) throw new BadImageError("undecodable image");
  return { data: res.body, ...probed };
}
