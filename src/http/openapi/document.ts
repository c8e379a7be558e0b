/**
 * The OpenAPI 3.1 document served at /openapi.json, built from the schemas the server
 * validates and answers with: the generation request from the model catalogue
 * (core/request-schema.ts), the task from core/public-task.ts, errors from
 * core/errors.ts, admin bodies from the routes' zod objects. Pure: the same catalogue
 * and options give the same document.
 */
import { z } from "zod";
import { API_ERRORS, type ApiErrorCode } from "../../core/errors.js";
import { FAILURE_CODES } from "../../core/failure.js";
import type { ModelSpec } from "../../core/models.js";
import { taskSchema } from "../../core/public-task.js";
import {
  modelRequestSchema,
  type JsonSchema,
  type RequestSchemaOptions,
} from "../../core/request-schema.js";
import {
  ADMIN_SCHEMAS,
  FILE_API_SCHEMAS,
  OPERATIONS,
  TASK_LIST_SCHEMA,
  type Auth,
  type Operation,
  type SchemaRef,
} from "./operations.js";
import { zodSchema } from "./zod-schema.js";

export interface OpenApiOptions extends RequestSchemaOptions {
  models: readonly ModelSpec[];
  /** Shown as the document's version (the API's, not the package's). */
  version?: string;
}

const json = (schema: JsonSchema) => ({ "application/json": { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const toSchema = (s: SchemaRef): JsonSchema => ("ref" in s ? ref(s.ref) : s.schema);

/** A component name may hold only letters, digits, `.`, `-` and `_`. */
const componentName = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, "_");

const SECURITY: Record<Exclude<Auth, "none">, { scheme: string; errors: ApiErrorCode[] }> = {
  apiKey: { scheme: "apiKey", errors: ["unauthorized", "rate_limit_exceeded"] },
  admin: { scheme: "adminToken", errors: ["unauthorized", "rate_limit_exceeded"] },
  metrics: { scheme: "metricsToken", errors: ["unauthorized"] },
};

/** What a request with a JSON body may also be refused for. */
const BODY_ERRORS: ApiErrorCode[] = [
  "invalid_request",
  "request_too_large",
  "unsupported_media_type",
];

/** Any path, before a route runs. */
const ANY_ROUTE_ERRORS: ApiErrorCode[] = ["not_found", "method_not_allowed", "internal_error"];

function errorsTable(): string {
  const rows = (Object.keys(API_ERRORS) as ApiErrorCode[]).map((code) => {
    const e = API_ERRORS[code];
    return `| ${e.status} | \`${code}\` | \`${e.type}\` | ${e.message} |`;
  });
  return ["| HTTP | code | type | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

const INTRO = `Darkroom speaks the EvoLink asynchronous task API: submit a generation, then poll the
task (or receive it at your \`callback_url\`) until it is \`completed\` or \`failed\`.
JSON in, JSON out; timestamps are unix seconds; credits are decimal numbers.

Every error, from any route, is JSON: \`{"error": {"code", "message", "type", "param"?}}\`.
The codes:`;

function errorResponse(codes: ApiErrorCode[]): JsonSchema {
  if (codes.length === 1) return { $ref: `#/components/responses/${codes[0]}` };
  return {
    description: codes.map((c) => `\`${c}\``).join(", "),
    content: {
      "application/json": {
        schema: {
          allOf: [ref("Error")],
          properties: {
            error: { properties: { code: { enum: codes } } },
          },
        },
        examples: Object.fromEntries(codes.map((c) => [c, { $ref: `#/components/examples/${c}` }])),
      },
    },
  };
}

function parameters(op: Operation): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [name, description] of Object.entries(op.params ?? {})) {
    out.push({ name, in: "path", required: true, description, schema: { type: "string" } });
  }
  if (op.query) {
    const q = op.query instanceof z.ZodType ? zodSchema(op.query) : op.query;
    const props = (q.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((q.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries(props)) {
      const { description, ...rest } = schema;
      out.push({
        name,
        in: "query",
        required: required.has(name),
        ...(typeof description === "string" ? { description } : {}),
        schema: rest,
      });
    }
  }
  for (const [name, h] of Object.entries(op.headers ?? {})) {
    out.push({ name, in: "header", required: false, description: h.description, schema: h.schema });
  }
  return out;
}

/** HTTP statuses' names, for the file API's refusals (which carry no catalogue code). */
const STATUS_TEXT: Record<number, string> = {
  400: "Bad input",
  401: "No valid API key",
  403: "The file quota is full",
  404: "No such file",
  413: "Too large",
  415: "Not an image (or not multipart)",
  429: "Rate limited",
  500: "Server error",
};

/** A file API operation's answers: EvoLink's envelope, its refusals by status. */
function fileApiResponses(op: Operation, refusals: number[]): Record<string, JsonSchema> {
  const statuses = new Set(refusals);
  if (op.auth !== "none")
    for (const c of SECURITY[op.auth].errors) statuses.add(API_ERRORS[c].status);
  if (op.body) for (const c of BODY_ERRORS) statuses.add(API_ERRORS[c].status);
  statuses.add(500);
  const responses: Record<string, JsonSchema> = {
    [String(op.ok.status ?? 200)]: {
      description: op.ok.description,
      content: json({
        type: "object",
        properties: {
          success: { const: true },
          code: { const: op.ok.status ?? 200 },
          msg: { type: "string" },
          ...(op.ok.body ? { data: toSchema(op.ok.body) } : {}),
        },
        required: ["success", "code", "msg", "data"],
        additionalProperties: false,
      }),
    },
  };
  for (const status of [...statuses].sort((a, b) => a - b)) {
    responses[String(status)] = {
      description: STATUS_TEXT[status] ?? `HTTP ${status}`,
      content: json({ allOf: [ref("FileApiRefusal")], properties: { code: { const: status } } }),
    };
  }
  return responses;
}

function requestBody(op: Operation): JsonSchema {
  if (!op.body) return {};
  const schema = op.body instanceof z.ZodType ? zodSchema(op.body) : toSchema(op.body);
  const content = op.bodyMediaType ? { [op.bodyMediaType]: { schema } } : json(schema);
  return { requestBody: { required: true, content } };
}

function operation(op: Operation): JsonSchema {
  const codes = new Set<ApiErrorCode>(op.errors);
  if (op.auth !== "none") for (const c of SECURITY[op.auth].errors) codes.add(c);
  if (op.body) for (const c of BODY_ERRORS) codes.add(c);
  codes.add("internal_error");
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const c of codes) {
    const s = API_ERRORS[c].status;
    byStatus.set(s, [...(byStatus.get(s) ?? []), c]);
  }
  const okBody = op.ok.body
    ? json(toSchema(op.ok.body))
    : op.ok.mediaType
      ? { [op.ok.mediaType]: { schema: {} } }
      : undefined;
  const responses: Record<string, JsonSchema> = {
    [String(op.ok.status ?? 200)]: {
      description: op.ok.description,
      ...(op.ok.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(op.ok.headers).map(([h, d]) => [
                h,
                { description: d, schema: { type: "string" } },
              ]),
            ),
          }
        : {}),
      ...(okBody ? { content: okBody } : {}),
    },
  };
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[String(status)] = errorResponse(list);
  }
  const params = parameters(op);
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: op.auth === "none" ? [] : [{ [SECURITY[op.auth].scheme]: [] }],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...requestBody(op),
    responses: op.fileApi ? fileApiResponses(op, op.fileApi.refusals) : responses,
  };
}

/** The task as the routes serialize it, with the values its fields may take. */
function taskComponent(): JsonSchema {
  const props = taskSchema.properties;
  return {
    ...taskSchema,
    description:
      "A task, as GET /v1/tasks/{task_id} answers and callbacks carry. `results` only when " +
      "completed; `error` only when failed; `usage.credits_used` once terminal.",
    properties: {
      ...props,
      object: { type: "string", enum: ["image.generation.task"] },
      type: { type: "string", enum: ["image"] },
      status: { type: "string", enum: ["pending", "processing", "completed", "failed"] },
      progress: { type: "integer", minimum: 0, maximum: 100 },
      error: {
        ...props.error,
        properties: {
          ...props.error.properties,
          code: { type: "string", enum: [...FAILURE_CODES] },
          type: { type: "string", enum: ["task_error"] },
        },
      },
    },
  };
}

function errorComponents() {
  const codes = Object.keys(API_ERRORS) as ApiErrorCode[];
  const responses: Record<string, JsonSchema> = {};
  const examples: Record<string, JsonSchema> = {};
  for (const code of codes) {
    const e = API_ERRORS[code];
    const value = { error: { code, message: e.message, type: e.type } };
    examples[code] = { summary: `${e.status} ${code}`, value };
    responses[code] = {
      description: `\`${code}\` (HTTP ${e.status}): ${e.message}`,
      content: {
        "application/json": {
          schema: ref("Error"),
          examples: { [code]: { $ref: `#/components/examples/${code}` } },
        },
      },
    };
  }
  const error: JsonSchema = {
    type: "object",
    properties: {
      error: {
        type: "object",
        properties: {
          code: { type: "string", enum: codes },
          message: { type: "string" },
          type: { type: "string", enum: [...new Set(codes.map((c) => API_ERRORS[c].type))] },
          param: { type: "string", description: "The field at fault, when there is one." },
        },
        required: ["code", "message", "type"],
      },
    },
    required: ["error"],
  };
  return { error, responses, examples };
}

const WEBHOOK_HEADERS: Array<[string, string]> = [
  ["webhook-id", "The delivery's id: the same on every retry of one delivery."],
  ["webhook-timestamp", "Unix seconds when this attempt was signed."],
  [
    "webhook-signature",
    "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the account's secret (GET /v1/webhook-secret).",
  ],
];

export function buildOpenApiDocument(opts: OpenApiOptions): JsonSchema {
  const models = opts.models.map((m) => ({
    name: `GenerationRequest.${componentName(m.id)}`,
    spec: m,
  }));
  const { error, responses, examples } = errorComponents();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  const taskList = TASK_LIST_SCHEMA as { properties: Record<string, JsonSchema> };

  return {
    openapi: "3.1.0",
    info: {
      title: "Darkroom API",
      version: opts.version ?? "v1",
      description: `${INTRO}\n\n${errorsTable()}\n\nAny path can also answer ${ANY_ROUTE_ERRORS.map((c) => `\`${c}\``).join(", ")}.`,
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    tags: [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    webhooks: {
      taskFinished: {
        post: {
          operationId: "taskFinished",
          summary: "A task with a callback_url ended",
          description:
            "POSTed to the task's `callback_url` when it completes, fails or is cancelled, " +
            "after billing is final: the same JSON as GET /v1/tasks/{task_id}. A 2xx answer is " +
            "success; anything else, or none within 10 s, is retried. Redirects are not followed. " +
            "Signed following Standard Webhooks.",
          parameters: WEBHOOK_HEADERS.map(([name, description]) => ({
            name,
            in: "header",
            required: true,
            description,
            schema: { type: "string" },
          })),
          requestBody: { required: true, content: json(ref("Task")) },
          responses: { "200": { description: "Any 2xx: delivered." } },
        },
      },
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description: "An API key, `sk-…`, created by an operator.",
        },
        adminToken: {
          type: "http",
          scheme: "bearer",
          description:
            "The admin credential (DARKROOM_ADMIN_TOKEN or the one printed at first start).",
        },
        metricsToken: {
          type: "http",
          scheme: "bearer",
          description: "DARKROOM_METRICS_TOKEN, when set.",
        },
      },
      schemas: {
        GenerationRequest: {
          description: "The submission; its rules depend on `model`.",
          oneOf: models.map((m) => ref(m.name)),
          discriminator: {
            propertyName: "model",
            mapping: Object.fromEntries(
              models.map((m) => [m.spec.id, `#/components/schemas/${m.name}`]),
            ),
          },
        },
        ...Object.fromEntries(models.map((m) => [m.name, modelRequestSchema(m.spec, opts)])),
        Task: taskComponent(),
        TaskList: {
          ...TASK_LIST_SCHEMA,
          properties: {
            ...taskList.properties,
            data: { type: "array", items: ref("Task") },
          },
        },
        Error: error,
        AdminStatus: {
          type: "object",
          description: "This process: `role`, memory, event-loop delay and `runner` load.",
          properties: { object: { const: "status" }, role: { type: "string" } },
          required: ["object", "role"],
        },
        ...ADMIN_SCHEMAS,
        ...FILE_API_SCHEMAS,
      },
      responses,
      examples,
    },
  };
}
