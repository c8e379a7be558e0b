/**
 * Contract errors answered at the edge, before any handler has the request: on a
 * response object (the request was parsed), or straight onto the socket (it was not, or
 * the connection is being cut). The body is the contract's error JSON either way.
 */
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { errorBody, type ApiError } from "../../core/errors.js";

/** Answers `e` on `res` (the request id header is already set by the edge). */
export function answerError(res: ServerResponse, e: ApiError, closeConnection = false): void {
  const body = JSON.stringify(errorBody(e));
  const headers: Record<string, string> = {
    ...e.headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
  };
  if (closeConnection) headers.connection = "close";
  res.writeHead(e.status, headers);
  res.end(body);
}

/** A whole HTTP/1.1 response carrying `e`, with `Connection: close`, as bytes for a socket. */
export function rawErrorResponse(e: ApiError, requestId: string): Buffer {
  const body = JSON.stringify(errorBody(e));
  let head =
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? "Error"}\r\n` +
    `X-Request-Id: ${requestId}\r\n`;
  for (const [name, value] of Object.entries(e.headers ?? {})) head += `${name}: ${value}\r\n`;
  head +=
    "Content-Type: application/json; charset=utf-8\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    "Connection: close\r\n\r\n";
  return Buffer.from(head + body);
}

/**
 * Writes `e` onto the socket and closes it, unless a response has already started on it
 * (a pipelined request answered while a later one fails): like node's own default, never
 * write into the middle of another response. Returns whether the answer was written.
 */
export function answerOnSocket(socket: Socket, e: ApiError, requestId: string): boolean {
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  const writable = socket.writable && !inFlight?.headersSent;
  if (writable) socket.write(rawErrorResponse(e, requestId));
  socket.destroy();
  return writable;
}
