/**
 * One error handler for every route (routes just throw). Whatever fails — a thrown
 * ApiError, Fastify's own body-parsing errors, a 404 route, a bug — the client gets
 * the EvoLink error JSON and never HTML, a stack or internals. Unexpected errors are
 * logged with the request id, which the client also receives in `x-request-id`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError, errorBody } from "../core/errors.js";
import type { AllowedMethods } from "./allowed-methods.js";

/** Fastify's own error codes that are the client's fault, mapped to our catalogue. */
export function fromFastify(err: FastifyError): ApiError | null {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError(
        "request_too_large",
        "The request body is larger than the server accepts.",
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError("unsupported_media_type", "Send the request body as application/json.");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError("invalid_request", "The request body is empty; send a JSON object.", {
        param: "body",
      });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new ApiError("invalid_request", "The request body is not valid JSON.", {
        param: "body",
      });
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ApiError("invalid_request", "The Content-Length header does not match the body.");
    default:
      break;
  }
  // JSON.parse failures surface as SyntaxError with a 400 status.
  if (err.statusCode === 400 || err instanceof SyntaxError) {
    return new ApiError("invalid_request", "The request body is not valid JSON.", {
      param: "body",
    });
  }
  if (err.statusCode === 413) return new ApiError("request_too_large");
  if (err.statusCode === 415) return new ApiError("unsupported_media_type");
  if (err.statusCode === 405) return new ApiError("method_not_allowed");
  return null;
}

export function sendApiError(reply: FastifyReply, e: ApiError): FastifyReply {
  if (e.headers) reply.headers(e.headers);
  return reply.code(e.status).type("application/json; charset=utf-8").send(errorBody(e));
}

export function installErrorHandling(app: FastifyInstance, allowed: AllowedMethods): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const known = err instanceof ApiError ? err : fromFastify(err);
    if (known) return sendApiError(reply, known);
    req.log.error({ err }, "unhandled error");
    return sendApiError(reply, new ApiError("internal_error"));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0]!;
    const methods = allowed.for(path);
    // A known path asked with a method it does not take: 405 and what it does take.
    if (methods.length > 0 && !methods.includes(req.method)) {
      return sendApiError(
        reply,
        new ApiError("method_not_allowed", `${path} does not take ${req.method}.`, {
          headers: { allow: methods.join(", ") },
        }),
      );
    }
    return sendApiError(reply, new ApiError("not_found", `No route for ${req.method} ${path}.`));
  });
}
