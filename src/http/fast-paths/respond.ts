/**
 * What the fast paths share: their shape, stopping when the server closes, and their
 * answers (a task's JSON, an error), byte for byte what the Fastify routes send: the
 * same JSON Schema compiled by the same serialiser, the same error body, the same headers.
 * Answers go out through a ResponseBatch, at the end of the turn (response-batch.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import fastJsonStringify, { type Schema } from "fast-json-stringify";
import { ApiError, errorBody } from "../../core/errors.js";
import { requestIdFrom } from "../request-id.js";
import { taskSchema, type PublicTask } from "../task-view.js";
import type { ResponseBatch } from "./response-batch.js";

/**
 * Returns true when it took the request (it answers it, or later calls `fallback`);
 * false means "give it to Fastify" now.
 */
export type FastPath = (req: IncomingMessage, res: ServerResponse, fallback: () => void) => boolean;

export type ClosableFastPath = FastPath & { close(): void };

/** `take`, declining every request once `close()` is called (the server is shutting down). */
export function closable(take: FastPath): ClosableFastPath {
  let closing = false;
  const handle: FastPath = (req, res, fallback) => !closing && take(req, res, fallback);
  return Object.assign(handle, {
    close() {
      closing = true;
    },
  });
}

/** The task serialiser (the schema is declared `as const` for Fastify; the compiler wants a mutable copy). */
export function compileTaskSerializer(): (task: PublicTask) => string {
  return fastJsonStringify(structuredClone(taskSchema) as unknown as Schema);
}

export function sendTaskJson(
  out: ResponseBatch,
  req: IncomingMessage,
  res: ServerResponse,
  body: string,
): void {
  sendJson(out, res, 200, body, requestIdFrom(req.headers["x-request-id"]));
}

/**
 * An error as the route's error handler answers it: its status and headers, the
 * contract's JSON. Returns the request id, so the caller can log the two together.
 */
export function sendApiError(
  out: ResponseBatch,
  req: IncomingMessage,
  res: ServerResponse,
  e: ApiError,
): string {
  const requestId = requestIdFrom(req.headers["x-request-id"]);
  sendJson(out, res, e.status, JSON.stringify(errorBody(e)), requestId, e.headers);
  return requestId;
}

/** A failure after a fast path has taken a request: 500 `internal_error`, no internals. */
export function sendInternalError(
  out: ResponseBatch,
  req: IncomingMessage,
  res: ServerResponse,
): string {
  return sendApiError(out, req, res, new ApiError("internal_error"));
}

/** Queues the answer; a response already answered (sent or queued) is left as it is. */
function sendJson(
  out: ResponseBatch,
  res: ServerResponse,
  status: number,
  body: string,
  requestId: string,
  extra?: Record<string, string>,
): void {
  // Headers as a flat array: node skips building and re-walking a headers object. In
  // the framework's order: the request id (its onRequest hook), the error's own, then
  // the body's.
  const headers = ["x-request-id", requestId];
  if (extra) for (const [name, value] of Object.entries(extra)) headers.push(name, value);
  headers.push(
    "content-type",
    "application/json; charset=utf-8",
    "content-length",
    String(Buffer.byteLength(body)),
  );
  out.send(res, status, headers, body);
}
