/**
 * Errors that happen before or around routing, where Fastify would otherwise answer with
 * its own body (`{"error":"Bad Request","statusCode":400,...}`): unparseable HTTP, bad
 * URLs and over-long path parameters, and requests that arrive while the server shuts
 * down. Each answers the contract's JSON error shape instead.
 */
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from "fastify";
import { ApiError, errorBody } from "../core/errors.js";
import { sendApiError } from "./error-handler.js";

/** What node's HTTP parser (llhttp) rejected, as a status and a contract error. */
function describeClientError(code: string | undefined): { status: number; error: ApiError } {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      // 431 is the status HTTP clients and proxies understand for this; the body reuses
      // the catalogue's `request_too_large` (see the note in core/errors.ts).
      return {
        status: 431,
        error: new ApiError(
          "request_too_large",
          "The request headers are larger than the server accepts.",
        ),
      };
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "ERR_HTTP_HEADERS_TIMEOUT":
      return {
        status: 408,
        error: new ApiError("invalid_request", "The request was not received in time."),
      };
    case "HPE_INVALID_CONTENT_LENGTH":
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
      return {
        status: 400,
        error: new ApiError("invalid_request", "The Content-Length header is not valid."),
      };
    case "HPE_INVALID_TRANSFER_ENCODING":
    case "HPE_INVALID_CHUNK_SIZE":
      return {
        status: 400,
        error: new ApiError("invalid_request", "The request body's chunked encoding is not valid."),
      };
    default:
      return {
        status: 400,
        error: new ApiError("invalid_request", "The request is not valid HTTP/1.1."),
      };
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
    // Like node's own default: never write into a response that has started on this
    // socket (a pipelined request failing to parse while an earlier one is answered).
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const { status, error } = describeClientError(err.code);
      const body = JSON.stringify(errorBody(error));
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
          "Content-Type: application/json; charset=utf-8\r\n" +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Request-Id: ${randomUUID()}\r\n` +
          "Connection: close\r\n\r\n" +
          body,
      );
    }
    socket.destroy();
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
  // No onRequest hook has run for this request: set the request id header here.
  reply.header("x-request-id", req.id);
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

/**
 * Once the app starts closing, requests that still arrive (pipelined, or on a busy
 * keep-alive connection) get a 503 JSON error with `Connection: close` instead of being
 * served. Fastify's own `return503OnClosing` would answer with its own body, so it is
 * off and this hook does it. `onClosing` runs once, when closing begins.
 */
export function installClosingGuard(app: FastifyInstance, onClosing: () => void): void {
  let closing = false;
  app.addHook("preClose", (done) => {
    closing = true;
    onClosing();
    done();
  });
  app.addHook("onRequest", (_req, reply, done) => {
    if (!closing) return done();
    reply.header("connection", "close");
    sendApiError(
      reply,
      new ApiError("service_unavailable", "The server is shutting down; retry the request."),
    );
  });
}
