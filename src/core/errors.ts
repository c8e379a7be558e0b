/**
 * The public error catalogue: every error the API can answer with, its HTTP status,
 * `type` and default message. It mirrors the tables of spec/api.md (a test compares
 * them). Routes throw ApiError; the one error handler turns it into the JSON body.
 *
 * Two answers use a catalogue code with a status of their own, written before any route
 * runs (http/protocol-errors.ts), because HTTP clients and proxies act on the status:
 * headers over node's limit are HTTP 431 with `request_too_large`, and a request not
 * received in time is HTTP 408 with `invalid_request`. No new code: clients of the
 * contract know only the table's codes.
 */

export type ApiErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "insufficient_quota"
  | "model_access_denied"
  | "model_not_found"
  | "idempotency_key_reused"
  | "request_too_large"
  | "rate_limit_exceeded"
  | "internal_error"
  | "service_unavailable"
  | "invalid_task_id"
  | "task_not_found"
  | "task_not_cancellable"
  | "not_found"
  | "conflict"
  | "method_not_allowed"
  | "unsupported_media_type"
  | "forbidden"
  | "file_not_found";

interface CatalogueEntry {
  status: number;
  type: string;
  message: string;
}

export const API_ERRORS: Record<ApiErrorCode, CatalogueEntry> = {
  invalid_request: {
    status: 400,
    type: "invalid_request_error",
    message: "The request is invalid.",
  },
  unauthorized: {
    status: 401,
    type: "authentication_error",
    message: "A valid API key is required.",
  },
  insufficient_quota: {
    status: 402,
    type: "insufficient_quota",
    message: "Not enough credits for this request.",
  },
  model_access_denied: {
    status: 403,
    type: "invalid_request_error",
    message: "This API key may not use this model.",
  },
  model_not_found: {
    status: 404,
    type: "invalid_request_error",
    message: "The model does not exist.",
  },
  idempotency_key_reused: {
    status: 409,
    type: "invalid_request_error",
    message: "This Idempotency-Key was already used with a different request body.",
  },
  request_too_large: {
    status: 413,
    type: "invalid_request_error",
    message: "The request body is too large.",
  },
  rate_limit_exceeded: {
    status: 429,
    type: "rate_limit_error",
    message: "Too many requests; retry later.",
  },
  internal_error: {
    status: 500,
    type: "api_error",
    message: "The server failed to handle the request.",
  },
  service_unavailable: {
    status: 503,
    type: "api_error",
    message: "The service is unavailable right now.",
  },
  invalid_task_id: {
    status: 400,
    type: "invalid_request_error",
    message: "The task id is not valid.",
  },
  task_not_found: {
    status: 404,
    type: "invalid_request_error",
    message: "The task does not exist.",
  },
  task_not_cancellable: {
    status: 409,
    type: "invalid_request_error",
    message: "The task can no longer be cancelled.",
  },
  not_found: { status: 404, type: "invalid_request_error", message: "Not found." },
  conflict: { status: 409, type: "invalid_request_error", message: "It already exists." },
  method_not_allowed: {
    status: 405,
    type: "invalid_request_error",
    message: "This method is not allowed here.",
  },
  unsupported_media_type: {
    status: 415,
    type: "invalid_request_error",
    message: "Send the body as application/json.",
  },
  forbidden: { status: 403, type: "invalid_request_error", message: "This link is not valid." },
  file_not_found: { status: 404, type: "invalid_request_error", message: "No such file." },
};

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param?: string;
  readonly headers?: Record<string, string>;

  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    opts: { param?: string; headers?: Record<string, string>; status?: 408 | 431 } = {},
  ) {
    const entry = API_ERRORS[code];
    super(message ?? entry.message);
    this.name = "ApiError";
    // Only the two protocol answers described above carry a status of their own.
    this.status = opts.status ?? entry.status;
    this.type = entry.type;
    if (opts.param !== undefined) this.param = opts.param;
    if (opts.headers !== undefined) this.headers = opts.headers;
  }
}

export function errorBody(e: ApiError): {
  error: { code: string; message: string; type: string; param?: string };
} {
  return {
    error: {
      code: e.code,
      message: e.message,
      type: e.type,
      ...(e.param !== undefined ? { param: e.param } : {}),
    },
  };
}
