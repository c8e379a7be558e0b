/**
 * Every HTTP operation Darkroom serves, as the OpenAPI document describes it. The
 * schemas are the ones the routes use (the public task's, the routes' response
 * schemas, the admin routes' zod objects); only the prose is written here.
 * test/http/openapi.test.ts fails when a registered route is missing from this list.
 */
import type { z } from "zod";
import type { ApiErrorCode } from "../../core/errors.js";
import type { JsonSchema } from "../../core/request-schema.js";
import { creditsSchema, modelListSchema } from "../routes/account.js";
import {
  createBody as createAccountBody,
  creditsBody,
  patchBody as patchAccountBody,
} from "../routes/admin/accounts.js";
import { groupBody, priceBody } from "../routes/admin/catalogue.js";
import { settings as keySettingsBody } from "../routes/admin/keys.js";
import { ledgerQuery } from "../routes/admin/ledger.js";
import { statsQuery } from "../routes/admin/stats.js";
import { listQuery as adminTaskListQuery } from "../routes/admin/tasks.js";
import {
  accountSchema,
  adminStatsSchema,
  adminTaskDetailSchema,
  adminTaskSchema,
  apiKeySchema,
  channelViewSchema,
  createdKeySchema,
  cursorList,
  deliverySchema,
  groupSchema,
  ledgerEntrySchema,
  modelPriceSchema,
  pagedList,
  shortList,
  webhookSecretSchema,
} from "../routes/admin/view-schemas.js";
import { pageQuery } from "../routes/admin/parse.js";
import { listQuery as deliveryListQuery } from "../routes/admin/webhooks.js";
import { listQuery as taskListQuery, taskListSchema } from "../routes/tasks.js";
import { FILE_API_DATA_SCHEMAS, fileViewSchema } from "../routes/uploads.js";
import { channelPatchSchema, channelSchema } from "../../core/channel-definition.js";

export type Auth = "apiKey" | "admin" | "metrics" | "none";

/** A named schema in components.schemas, or an inline one. */
export type SchemaRef = { ref: string } | { schema: JsonSchema };

export interface Operation {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** OpenAPI form: `/v1/tasks/{task_id}`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  /** Path parameters, by name: their description. */
  params?: Record<string, string>;
  query?: z.ZodObject<z.ZodRawShape> | JsonSchema;
  body?: SchemaRef | z.ZodTypeAny;
  /** The body's media type when it is not JSON (the file API's multipart upload). */
  bodyMediaType?: "multipart/form-data";
  /** Request headers other than Authorization: name → description. */
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  ok: {
    status?: number;
    description: string;
    body?: SchemaRef;
    /** Another media type than JSON (an image, Prometheus text, HTML). */
    mediaType?: string;
    headers?: Record<string, string>;
  };
  /** The catalogue codes this operation answers with, besides those of its auth and body. */
  errors: ApiErrorCode[];
  /**
   * The file API answers EvoLink's `{success, code, msg, data}`, refusals included
   * (routes/uploads.ts): `ok.body` is then the schema of `data`, `errors` is empty, and
   * these are the statuses it refuses with besides those of its auth and body.
   */
  fileApi?: { refusals: number[] };
}

const TASK = { ref: "Task" } as const;
const adminObject = (name: string) => ({ ref: name });
const named = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const short = (item: string) => ({ schema: shortList(named(item)) });
const paged = (item: string) => ({ schema: pagedList(named(item)) });
const exactObject = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: "object",
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});
const ok = (description: string, body?: SchemaRef) => ({
  description,
  ...(body ? { body } : {}),
});

const task = { task_id: "The task's id, `task-unified-…`." };

/** The optional naming fields every upload takes. */
const uploadNames = {
  upload_path: {
    type: "string",
    maxLength: 255,
    description: "A label (default `images`): segments of letters, digits, `.`, `_`, `-`.",
  },
  file_name: {
    type: "string",
    maxLength: 255,
    description: "The stored name, with the content's extension.",
  },
};
const UPLOADED = { ref: "UploadedFile" } as const;
/** Every upload's refusals: bad input, quota full, too large, not an image by content. */
const UPLOAD_REFUSALS = [400, 403, 413, 415];
const CONSOLE_DESCRIPTION =
  "The web console (docs/console.md); 404 `not_found` when it was not built.";
const account = { id: "The account's id, `acct_…`." };
const adminTask = { id: "The task's id, `task-unified-…`." };

export const OPERATIONS: Operation[] = [
  // Public API (spec/api.md).
  {
    method: "post",
    path: "/v1/images/generations",
    operationId: "createGeneration",
    tag: "Generations",
    summary: "Submit an image generation task",
    description:
      "Creates a task and answers at once with HTTP 200. The body's rules depend on `model`: " +
      "one schema per model of this server's catalogue. A repeat with the same " +
      "`Idempotency-Key` and body within 24 h answers the same task, creating and charging nothing.",
    auth: "apiKey",
    body: { ref: "GenerationRequest" },
    headers: {
      "Idempotency-Key": {
        description: "Makes retries safe: the same key and body give the same task.",
        schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" },
      },
    },
    ok: {
      description: "The task, pending.",
      body: TASK,
      headers: { "Idempotency-Replayed": "`true` when an earlier task was answered again." },
    },
    errors: [
      "invalid_request",
      "insufficient_quota",
      "model_access_denied",
      "model_not_found",
      "idempotency_key_reused",
      "request_too_large",
      "service_unavailable",
    ],
  },
  {
    method: "get",
    path: "/v1/tasks/{task_id}",
    operationId: "getTask",
    tag: "Tasks",
    summary: "Read a task",
    description:
      "Another account's task answers 404 like a missing one. `results` are signed links " +
      "to the gateway's own `/files/…`, valid for a configured time.",
    auth: "apiKey",
    params: task,
    ok: ok("The task.", TASK),
    errors: ["invalid_task_id", "task_not_found"],
  },
  {
    method: "post",
    path: "/v1/tasks/{task_id}/cancel",
    operationId: "cancelTask",
    tag: "Tasks",
    summary: "Cancel a task",
    description:
      "A cancelled task reads `status: failed` with `error.code: request_cancelled`; " +
      "everything it held is released. `task_info.can_cancel` tells beforehand.",
    auth: "apiKey",
    params: task,
    ok: ok("The task after cancellation.", TASK),
    errors: ["invalid_task_id", "task_not_found", "task_not_cancellable"],
  },
  {
    method: "get",
    path: "/v1/tasks",
    operationId: "listTasks",
    tag: "Tasks",
    summary: "List the account's tasks",
    description:
      "Newest first. `page` × `page_size` reach the first tasks; `cursor=<next_cursor>` " +
      "reads on at any depth (then `page` is null). An empty parameter is no filter.",
    auth: "apiKey",
    query: taskListQuery,
    ok: ok("One page of tasks.", { ref: "TaskList" }),
    errors: ["invalid_request"],
  },
  {
    method: "get",
    path: "/v1/models",
    operationId: "listModels",
    tag: "Account",
    summary: "The models this key may use",
    auth: "apiKey",
    ok: ok("The models.", { schema: modelListSchema }),
    errors: [],
  },
  {
    method: "get",
    path: "/v1/credits",
    operationId: "getCredits",
    tag: "Account",
    summary: "The account's and this key's credits",
    auth: "apiKey",
    ok: ok("Credits, as decimal numbers.", { schema: creditsSchema }),
    errors: [],
  },
  {
    method: "get",
    path: "/v1/webhook-secret",
    operationId: "getWebhookSecret",
    tag: "Account",
    summary: "The account's callback signing secret",
    description: "What a receiver verifies callbacks with (Standard Webhooks, `whsec_…`).",
    auth: "apiKey",
    ok: ok("The secret.", {
      schema: {
        type: "object",
        properties: { object: { const: "webhook_secret" }, secret: { type: "string" } },
        required: ["object", "secret"],
      },
    }),
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/files/{key}",
    operationId: "getFile",
    tag: "Files",
    summary: "Download a result image",
    description:
      "The links in a task's `results`. No API key: the signature is the credential. " +
      "A tampered or expired link is 403, a missing file 404.",
    auth: "none",
    params: { key: "The file's key (may contain `/`)." },
    query: {
      type: "object",
      properties: {
        exp: { type: "string", description: "Expiry, unix seconds." },
        sig: { type: "string", description: "HMAC-SHA256 signature of the key and expiry." },
      },
      required: ["exp", "sig"],
    },
    ok: { description: "The image.", mediaType: "image/*" },
    errors: ["forbidden", "file_not_found"],
  },

  // Operations.
  {
    method: "get",
    path: "/healthz",
    operationId: "liveness",
    tag: "Operations",
    summary: "Liveness: the process answers",
    auth: "none",
    ok: ok("Alive.", { schema: statusSchema(["ok"]) }),
    errors: [],
  },
  {
    method: "get",
    path: "/readyz",
    operationId: "readiness",
    tag: "Operations",
    summary: "Readiness: the database answers and the process takes work",
    auth: "none",
    ok: ok("Ready.", { schema: statusSchema(["ready"]) }),
    errors: ["service_unavailable"],
  },
  {
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    tag: "Operations",
    summary: "Prometheus metrics",
    description: "Present unless DARKROOM_METRICS=false; needs a bearer token when one is set.",
    auth: "metrics",
    ok: { description: "Prometheus text exposition.", mediaType: "text/plain" },
    errors: ["unauthorized"],
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    tag: "Operations",
    summary: "This document",
    auth: "none",
    ok: { description: "OpenAPI 3.1, JSON.", mediaType: "application/json" },
    errors: [],
  },
  {
    method: "get",
    path: "/docs",
    operationId: "docs",
    tag: "Operations",
    summary: "A page that renders this document",
    auth: "none",
    ok: { description: "HTML.", mediaType: "text/html" },
    errors: [],
  },

  // File API (docs/files.md): EvoLink's file management, with the same API keys.
  {
    method: "post",
    path: "/api/v1/files/upload/base64",
    operationId: "uploadFileBase64",
    tag: "Files",
    summary: "Upload an image as base64",
    description:
      "The returned `file_url` may be passed in `image_urls`; it is read from storage, not fetched. " +
      "The type comes from the bytes (JPEG, PNG, GIF or WebP).",
    auth: "apiKey",
    body: {
      schema: {
        type: "object",
        properties: {
          base64_data: { type: "string", description: "Plain base64 or a `data:…;base64,` URL." },
          ...uploadNames,
        },
        required: ["base64_data"],
      },
    },
    ok: ok("The stored file.", UPLOADED),
    errors: [],
    fileApi: { refusals: UPLOAD_REFUSALS },
  },
  {
    method: "post",
    path: "/api/v1/files/upload/stream",
    operationId: "uploadFileStream",
    tag: "Files",
    summary: "Upload an image as multipart/form-data",
    description: "One image, in the part `file`; `uploadPath` and `fileName` are also accepted.",
    auth: "apiKey",
    body: {
      schema: {
        type: "object",
        properties: {
          file: { type: "string", contentMediaType: "application/octet-stream" },
          ...uploadNames,
        },
        required: ["file"],
      },
    },
    bodyMediaType: "multipart/form-data",
    ok: ok("The stored file.", UPLOADED),
    errors: [],
    fileApi: { refusals: UPLOAD_REFUSALS },
  },
  {
    method: "post",
    path: "/api/v1/files/upload/url",
    operationId: "uploadFileUrl",
    tag: "Files",
    summary: "Upload an image Darkroom fetches from a URL",
    description: "Fetched through the safe fetcher: no private, loopback or link-local hosts.",
    auth: "apiKey",
    body: {
      schema: {
        type: "object",
        properties: { file_url: { type: "string", format: "uri" }, ...uploadNames },
        required: ["file_url"],
      },
    },
    ok: ok("The stored file.", UPLOADED),
    errors: [],
    fileApi: { refusals: UPLOAD_REFUSALS },
  },
  {
    method: "get",
    path: "/api/v1/files/list",
    operationId: "listFiles",
    tag: "Files",
    summary: "The account's live files, newest first",
    auth: "apiKey",
    query: {
      type: "object",
      properties: {
        page: { type: "integer", minimum: 1, default: 1, description: "From 1." },
        pageSize: { type: "integer", minimum: 1, maximum: 100, default: 20 },
        page_size: { type: "integer", minimum: 1, maximum: 100, description: "As `pageSize`." },
      },
    },
    ok: ok("One page of files.", { schema: FILE_API_DATA_SCHEMAS.list }),
    errors: [],
    fileApi: { refusals: [400] },
  },
  {
    method: "delete",
    path: "/api/v1/files/{file_id}",
    operationId: "deleteFile",
    tag: "Files",
    summary: "Delete a file; its links stop working at once",
    auth: "apiKey",
    params: { file_id: "The file's id, `file_…`." },
    ok: ok("Deleted.", { schema: FILE_API_DATA_SCHEMAS.deleted }),
    errors: [],
    fileApi: { refusals: [404] },
  },
  {
    method: "get",
    path: "/api/v1/files/quota",
    operationId: "getFileQuota",
    tag: "Files",
    summary: "The account's file usage and limits",
    auth: "apiKey",
    ok: ok("Usage and limits.", { schema: FILE_API_DATA_SCHEMAS.quota }),
    errors: [],
    fileApi: { refusals: [] },
  },

  // The web console.
  {
    method: "get",
    path: "/",
    operationId: "root",
    tag: "Console",
    summary: "Sends a browser to the console",
    auth: "none",
    ok: { status: 302, description: "To /console/.", headers: { Location: "`/console/`" } },
    errors: [],
  },
  {
    method: "get",
    path: "/console",
    operationId: "consoleRedirect",
    tag: "Console",
    summary: "Adds the console's trailing slash",
    auth: "none",
    ok: { status: 301, description: "To /console/.", headers: { Location: "`/console/`" } },
    errors: [],
  },
  {
    method: "get",
    path: "/console/",
    operationId: "console",
    tag: "Console",
    summary: "The console's page",
    description: CONSOLE_DESCRIPTION,
    auth: "none",
    ok: { description: "HTML.", mediaType: "text/html" },
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/console/{path}",
    operationId: "consoleAsset",
    tag: "Console",
    summary: "The console's scripts, styles and icons",
    description: `${CONSOLE_DESCRIPTION} Hashed assets are cached for a year.`,
    auth: "none",
    params: { path: "The asset's path (may contain `/`)." },
    ok: { description: "The file.", mediaType: "*/*" },
    errors: ["not_found"],
  },

  // Admin API.
  {
    method: "get",
    path: "/admin/v1/accounts",
    operationId: "adminListAccounts",
    tag: "Admin: accounts",
    summary: "List accounts",
    auth: "admin",
    query: pageQuery,
    ok: ok("One page of accounts.", paged("AdminAccount")),
    errors: ["invalid_request"],
  },
  {
    method: "post",
    path: "/admin/v1/accounts",
    operationId: "adminCreateAccount",
    tag: "Admin: accounts",
    summary: "Create an account (optionally with credits)",
    auth: "admin",
    body: createAccountBody,
    ok: ok("The account.", adminObject("AdminAccount")),
    errors: ["conflict"],
  },
  {
    method: "get",
    path: "/admin/v1/accounts/{id}",
    operationId: "adminGetAccount",
    tag: "Admin: accounts",
    summary: "Read an account",
    auth: "admin",
    params: account,
    ok: ok("The account.", adminObject("AdminAccount")),
    errors: ["not_found"],
  },
  {
    method: "patch",
    path: "/admin/v1/accounts/{id}",
    operationId: "adminUpdateAccount",
    tag: "Admin: accounts",
    summary: "Change an account's group or disable it",
    auth: "admin",
    params: account,
    body: patchAccountBody,
    ok: ok("The account.", adminObject("AdminAccount")),
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/admin/v1/accounts/{id}/credits",
    operationId: "adminMoveCredits",
    tag: "Admin: accounts",
    summary: "Top up or adjust an account's credits",
    auth: "admin",
    params: account,
    body: creditsBody,
    ok: ok("The ledger entry and the account.", {
      schema: exactObject({ entry: named("AdminLedgerEntry"), account: named("AdminAccount") }),
    }),
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/admin/v1/accounts/{id}/keys",
    operationId: "adminListKeys",
    tag: "Admin: keys",
    summary: "List an account's API keys",
    auth: "admin",
    params: account,
    ok: ok("The keys.", short("AdminApiKey")),
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/admin/v1/accounts/{id}/keys",
    operationId: "adminCreateKey",
    tag: "Admin: keys",
    summary: "Create an API key (its secret is shown this once)",
    auth: "admin",
    params: account,
    body: keySettingsBody,
    ok: ok("The key with its secret in `key`.", adminObject("AdminCreatedApiKey")),
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/admin/v1/keys/{id}",
    operationId: "adminGetKey",
    tag: "Admin: keys",
    summary: "Read an API key",
    auth: "admin",
    params: { id: "The key's id, `key_…`." },
    ok: ok("The key.", adminObject("AdminApiKey")),
    errors: ["not_found"],
  },
  {
    method: "patch",
    path: "/admin/v1/keys/{id}",
    operationId: "adminUpdateKey",
    tag: "Admin: keys",
    summary: "Change an API key's limits",
    auth: "admin",
    params: { id: "The key's id, `key_…`." },
    body: keySettingsBody,
    ok: ok("The key.", adminObject("AdminApiKey")),
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/admin/v1/keys/{id}/revoke",
    operationId: "adminRevokeKey",
    tag: "Admin: keys",
    summary: "Revoke an API key",
    auth: "admin",
    params: { id: "The key's id, `key_…`." },
    ok: ok("The key.", adminObject("AdminApiKey")),
    errors: ["not_found"],
  },
  {
    method: "get",
    path: "/admin/v1/groups",
    operationId: "adminListGroups",
    tag: "Admin: catalogue",
    summary: "List groups and their price multipliers",
    auth: "admin",
    ok: ok("The groups.", short("AdminGroup")),
    errors: [],
  },
  {
    method: "put",
    path: "/admin/v1/groups/{name}",
    operationId: "adminPutGroup",
    tag: "Admin: catalogue",
    summary: "Create or change a group's multiplier",
    auth: "admin",
    params: { name: "1 to 64 letters, digits and . _ -" },
    body: groupBody,
    ok: ok("The group.", adminObject("AdminGroup")),
    errors: [],
  },
  {
    method: "get",
    path: "/admin/v1/models",
    operationId: "adminListModels",
    tag: "Admin: catalogue",
    summary: "List models and their prices",
    auth: "admin",
    ok: ok("The models.", short("AdminModel")),
    errors: [],
  },
  {
    method: "put",
    path: "/admin/v1/models/{id}/price",
    operationId: "adminPutModelPrice",
    tag: "Admin: catalogue",
    summary: "Set a model's price per image",
    auth: "admin",
    params: { id: "The model's id." },
    body: priceBody,
    ok: ok("The model.", adminObject("AdminModel")),
    errors: ["model_not_found"],
  },
  {
    method: "get",
    path: "/admin/v1/ledger",
    operationId: "adminListLedger",
    tag: "Admin: ledger",
    summary: "The append-only money trail",
    auth: "admin",
    query: ledgerQuery,
    ok: ok("One page of ledger entries.", paged("AdminLedgerEntry")),
    errors: ["invalid_request"],
  },
  {
    method: "get",
    path: "/admin/v1/ledger/check",
    operationId: "adminCheckLedger",
    tag: "Admin: ledger",
    summary: "Check balances against the ledger",
    auth: "admin",
    ok: ok("Whether the ledger and balances agree.", {
      schema: {
        type: "object",
        properties: { consistent: { type: "boolean" }, problems: { type: "array" } },
        required: ["consistent", "problems"],
      },
    }),
    errors: [],
  },
  {
    method: "get",
    path: "/admin/v1/status",
    operationId: "adminStatus",
    tag: "Admin: operations",
    summary: "This process: role, memory, event-loop delay, runner load",
    auth: "admin",
    ok: ok("The status.", adminObject("AdminStatus")),
    errors: [],
  },
  {
    method: "get",
    path: "/admin/v1/tasks",
    operationId: "adminListTasks",
    tag: "Admin: tasks",
    summary: "Every account's tasks, newest first",
    description:
      "Paged only by cursor: `cursor=<next_cursor>` reads on at the same cost at any depth; " +
      "there is no total. A blank filter is no filter. `channel_id` is the channel of the " +
      "task's last upstream call.",
    auth: "admin",
    query: adminTaskListQuery,
    ok: ok("One page of tasks.", { schema: cursorList(named("AdminTask")) }),
    errors: ["invalid_request"],
  },
  {
    method: "get",
    path: "/admin/v1/tasks/{id}",
    operationId: "adminGetTask",
    tag: "Admin: tasks",
    summary: "Read a task with its request, timeline and callback attempts",
    auth: "admin",
    params: adminTask,
    ok: ok("The task.", adminObject("AdminTaskDetail")),
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/admin/v1/tasks/{id}/cancel",
    operationId: "adminCancelTask",
    tag: "Admin: tasks",
    summary: "Cancel any account's task, as its owner's cancel does",
    description:
      "A pending task at once with a full refund, a running one if its upstream can be " +
      "stopped; otherwise 409 `task_not_cancellable`.",
    auth: "admin",
    params: adminTask,
    ok: ok("The task as the listing shows it.", adminObject("AdminTask")),
    errors: ["not_found", "task_not_cancellable"],
  },
  {
    method: "get",
    path: "/admin/v1/stats",
    operationId: "adminStats",
    tag: "Admin: tasks",
    summary: "The last minutes: tasks per minute, success rate, credits, durations, queue",
    auth: "admin",
    query: statsQuery,
    ok: ok("The overview.", adminObject("AdminStats")),
    errors: ["invalid_request"],
  },
  {
    method: "get",
    path: "/admin/v1/channels",
    operationId: "adminListChannels",
    tag: "Admin: channels",
    summary: "List upstream channels with their live health",
    auth: "admin",
    query: {
      type: "object",
      properties: { model: { type: "string", description: "Only this model's channels." } },
    },
    ok: ok("The channels.", short("AdminChannel")),
    errors: [],
  },
  {
    method: "post",
    path: "/admin/v1/channels",
    operationId: "adminCreateChannel",
    tag: "Admin: channels",
    summary: "Create a channel",
    description: "A secret is only ever a reference: `api_key_env` or `api_key_file`.",
    auth: "admin",
    body: channelSchema,
    ok: { status: 201, description: "The channel.", body: adminObject("AdminChannel") },
    errors: ["conflict"],
  },
  {
    method: "get",
    path: "/admin/v1/channels/{id}",
    operationId: "adminGetChannel",
    tag: "Admin: channels",
    summary: "Read a channel",
    auth: "admin",
    params: { id: "The channel's id." },
    ok: ok("The channel.", adminObject("AdminChannel")),
    errors: ["not_found"],
  },
  {
    method: "patch",
    path: "/admin/v1/channels/{id}",
    operationId: "adminUpdateChannel",
    tag: "Admin: channels",
    summary: "Change a channel (enable, disable, weights…)",
    auth: "admin",
    params: { id: "The channel's id." },
    body: channelPatchSchema,
    ok: ok("The channel.", adminObject("AdminChannel")),
    errors: ["not_found", "conflict"],
  },
  {
    method: "delete",
    path: "/admin/v1/channels/{id}",
    operationId: "adminDeleteChannel",
    tag: "Admin: channels",
    summary: "Delete an admin-defined channel",
    auth: "admin",
    params: { id: "The channel's id." },
    ok: ok("Deleted.", {
      schema: exactObject({
        id: { type: "string" },
        object: { enum: ["channel"] },
        deleted: { const: true },
      }),
    }),
    errors: ["not_found", "conflict"],
  },
  {
    method: "get",
    path: "/admin/v1/webhooks",
    operationId: "adminListDeliveries",
    tag: "Admin: webhooks",
    summary: "Callback deliveries with their attempts",
    auth: "admin",
    query: deliveryListQuery,
    ok: ok("One page of deliveries.", paged("AdminDelivery")),
    errors: ["invalid_request"],
  },
  {
    method: "get",
    path: "/admin/v1/webhooks/{id}",
    operationId: "adminGetDelivery",
    tag: "Admin: webhooks",
    summary: "Read a callback delivery",
    auth: "admin",
    params: { id: "The delivery's id." },
    ok: ok("The delivery.", adminObject("AdminDelivery")),
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/admin/v1/webhooks/{id}/retry",
    operationId: "adminRetryDelivery",
    tag: "Admin: webhooks",
    summary: "Re-queue a failed delivery",
    auth: "admin",
    params: { id: "The delivery's id." },
    ok: ok("The delivery, pending again.", adminObject("AdminDelivery")),
    errors: ["not_found", "conflict"],
  },
  {
    method: "get",
    path: "/admin/v1/accounts/{id}/webhook-secret",
    operationId: "adminGetWebhookSecret",
    tag: "Admin: webhooks",
    summary: "Read an account's callback signing secret",
    auth: "admin",
    params: account,
    ok: ok("The secret.", adminObject("AdminWebhookSecret")),
    errors: ["not_found"],
  },
  {
    method: "post",
    path: "/admin/v1/accounts/{id}/webhook-secret/rotate",
    operationId: "adminRotateWebhookSecret",
    tag: "Admin: webhooks",
    summary: "Rotate an account's callback signing secret",
    auth: "admin",
    params: account,
    ok: ok("The new secret.", adminObject("AdminWebhookSecret")),
    errors: ["not_found"],
  },
];

function statusSchema(values: string[]): JsonSchema {
  return {
    type: "object",
    properties: { status: { type: "string", enum: values } },
    required: ["status"],
  };
}

/** The admin answers' schemas, by component name. */
export const ADMIN_SCHEMAS: Record<string, JsonSchema> = {
  AdminAccount: accountSchema,
  AdminApiKey: apiKeySchema,
  AdminCreatedApiKey: createdKeySchema,
  AdminLedgerEntry: ledgerEntrySchema,
  AdminGroup: groupSchema,
  AdminModel: modelPriceSchema,
  AdminChannel: channelViewSchema,
  AdminDelivery: deliverySchema,
  AdminWebhookSecret: webhookSecretSchema,
  AdminTask: adminTaskSchema,
  AdminTaskDetail: adminTaskDetailSchema,
  AdminStats: adminStatsSchema,
};

/** The file API's schemas, by component name. */
export const FILE_API_SCHEMAS: Record<string, JsonSchema> = {
  UploadedFile: fileViewSchema,
  FileApiRefusal: {
    type: "object",
    description: "Every refusal of the file API: `code` is the HTTP status, `msg` says why.",
    properties: {
      success: { const: false },
      code: { type: "integer" },
      msg: { type: "string" },
      data: { type: "null" },
    },
    required: ["success", "code", "msg", "data"],
    additionalProperties: false,
  },
};

/** The task list's schema is the route's own serializer schema. */
export const TASK_LIST_SCHEMA: JsonSchema = taskListSchema;
