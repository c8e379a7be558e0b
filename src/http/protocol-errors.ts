/**
 * Errors that happen before or around routing, where Fastify would otherwise answer with
 * its own body (`{"error":"Bad Request","statusCode":400,...}`): unparseable HTTP, bad
 * URLs and over-long path parameters. Each answers the contract's JSON error shape
 * instead. (Refusals while shutting down are the edge's: edge/edge.ts.)
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import { answerOnSocket } from "./edge/raw-answer.js";
import { sendApiError } from "./error-handler.js";

/** What node's HTTP parser (llhttp) rejected, as a status and a contract error. */
function describeClientError(code: string | undefined): ApiError {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      // 431 is the status HTTP clients and proxies understand for this; the body reuses
      // the catalogue's `request_too_large` (see the note in core/errors.ts).
      return new ApiError(
        "request_too_large",
        "The request headers are larger than the server accepts.",
        { status: 431 },
      );
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "ERR_HTTP_HEADERS_TIMEOUT":
      return new ApiError("invalid_request", "The request was not received in time.", {
        status: 408,
      });
    case "HPE_INVALID_CONTENT_LENGTH":
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
      return new ApiError("invalid_request", "The Content-Length header is not valid.");
    case "HPE_INVALID_TRANSFER_ENCODING":
    case "HPE_INVALID_CHUNK_SIZE":
      return new ApiError("invalid_request", "The request body's chunked encoding is not valid.");
    default:
      return new ApiError("invalid_request", "The request is not valid HTTP/1.1.");
  }
}

/**
 * Fastify's `clientErrorHandler`: node's HTTP server could not parse a request, so there
 * is no request or reply object; the answer is written to the socket by hand, then the
 * connection is closed (the stream position after a parse error is unknown).
 */
export function createClientErrorHandler(
  log: FastifyBaseLogger,
): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody left to answer.
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    log.debug({ err: { code: err.code, message: err.message } }, "client error");
    // No request was parsed, so the edge never gave one an id: this answer gets its own.
    answerOnSocket(socket, describeClientError(err.code), randomUUID());
  };
}

/**
 * Fastify's `frameworkErrors`: the router refused the URL before any route (or hook)
 * ran. The messages never echo the path, which is client-controlled and may be long.
 */
export function frameworkErrorHandler(
  err: FastifyError,
  req: FastifyRequest,
  reply: FastifyReply,
): void {
  switch (err.code) {
    case "FST_ERR_BAD_URL":
      sendApiError(
        reply,
        new ApiError("invalid_request", "The request path is not valid percent-encoding."),
      );
      return;
    case "FST_ERR_MAX_PARAM_LENGTH":
      if (req.url.startsWith("/v1/tasks/")) {
        sendApiError(
          reply,
          new ApiError("invalid_task_id", "The task id is too long.", { param: "task_id" }),
        );
      } else {
        sendApiError(
          reply,
          new ApiError("invalid_request", "A path segment is longer than the server accepts."),
        );
      }
      return;
    default:
      req.log.error({ err }, "unhandled framework error");
      sendApiError(reply, new ApiError("internal_error"));
  }
}
