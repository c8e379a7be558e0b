/**
 * JSON Schemas of the admin answers (views.ts, task-views.ts, the routes' own objects), for
 * /openapi.json. test/e2e/openapi.test.ts checks real answers against them, so a view
 * that gains or loses a field fails until its schema follows.
 */
import type { JsonSchema } from "../../../core/request-schema.js";

const str = { type: "string" } as const;
const int = { type: "integer" } as const;
const num = { type: "number" } as const;
const bool = { type: "boolean" } as const;
const orNull = (t: string) => ({ type: [t, "null"] });
const tag = (name: string) => ({ type: "string", enum: [name] });

/** Every field present (null when unset), none other. */
const exact = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: "object",
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

export const accountSchema = exact({
  id: str,
  object: tag("account"),
  name: str,
  group: str,
  balance: num,
  held: num,
  available: num,
  used: num,
  disabled: bool,
  created: int,
});

export const apiKeySchema = exact({
  id: str,
  object: tag("api_key"),
  account_id: str,
  name: str,
  prefix: str,
  allowed_models: { anyOf: [{ type: "array", items: str }, { type: "null" }] },
  credit_limit: orNull("number"),
  unlimited: bool,
  credits_used: num,
  credits_held: num,
  rpm_limit: orNull("integer"),
  max_concurrent: orNull("integer"),
  active_tasks: int,
  expires_at: orNull("integer"),
  revoked_at: orNull("integer"),
  created: int,
});

/** A created key: the key's view and, this once, its secret. */
export const createdKeySchema: JsonSchema = {
  ...apiKeySchema,
  properties: {
    ...(apiKeySchema.properties as object),
    key: { type: "string", description: "The secret, shown only now." },
  },
  required: [...(apiKeySchema.required as string[]), "key"],
};

export const ledgerEntrySchema = exact({
  id: int,
  object: tag("ledger_entry"),
  account_id: str,
  api_key_id: orNull("string"),
  task_id: orNull("string"),
  kind: { type: "string", enum: ["topup", "adjust", "reserve", "capture", "release"] },
  amount: num,
  balance_after: num,
  held_after: num,
  reason: orNull("string"),
  created: int,
});

export const groupSchema = exact({ name: str, object: tag("group"), multiplier: num });

export const modelPriceSchema = exact({
  id: str,
  object: tag("model"),
  owned_by: str,
  price: num,
});

export const webhookSecretSchema = exact({
  object: tag("webhook_secret"),
  account_id: str,
  secret: str,
});

export const deliverySchema = exact({
  id: str,
  object: tag("webhook_delivery"),
  task_id: str,
  account_id: str,
  url: str,
  status: { type: "string", enum: ["pending", "delivered", "failed"] },
  attempts: int,
  next_attempt_at: orNull("integer"),
  last_status_code: orNull("integer"),
  last_error: orNull("string"),
  delivered_at: orNull("integer"),
  created: int,
  attempt_list: {
    type: "array",
    items: exact({
      attempt: int,
      status_code: orNull("integer"),
      latency_ms: orNull("integer"),
      error_kind: orNull("string"),
      error_message: orNull("string"),
      created: int,
      created_ms: int,
    }),
  },
});

/** A channel: its definition (secrets only as references) and live health. */
export const channelViewSchema: JsonSchema = {
  type: "object",
  properties: {
    id: str,
    object: tag("channel"),
    source: { type: "string", enum: ["config", "admin", "builtin"] },
    model: str,
    provider: str,
    base_url: orNull("string"),
    api_key_env: orNull("string"),
    api_key_file: orNull("string"),
    has_api_key: bool,
    upstream_model: orNull("string"),
    priority: int,
    weight: num,
    max_concurrency: orNull("integer"),
    timeout_ms: int,
    enabled: bool,
    options: { type: "object" },
    created: orNull("integer"),
    updated: orNull("integer"),
    health: { type: "object", description: "Breaker state, in flight, latency, recent outcomes." },
  },
  required: ["id", "object", "source", "model", "provider", "enabled", "health"],
};

const TASK_STATUS = { type: "string", enum: ["pending", "processing", "completed", "failed"] };

/** A task as the operator's listing shows it (task-views.ts adminTaskSummary). */
const adminTaskProperties: Record<string, JsonSchema> = {
  id: str,
  object: tag("admin_task"),
  account_id: str,
  api_key_id: str,
  model: str,
  status: TASK_STATUS,
  progress: { type: "integer", minimum: 0, maximum: 100 },
  n: int,
  prompt: { type: "string", description: "Its first 200 characters." },
  created_at: int,
  finished_at: orNull("integer"),
  duration_ms: orNull("integer"),
  credits_reserved: num,
  credits_used: orNull("number"),
  channel_id: orNull("string"),
  error: { anyOf: [exact({ code: str, message: str }), { type: "null" }] },
  thumbnail_url: orNull("string"),
};

export const adminTaskSchema = exact(adminTaskProperties);

/** One timeline event (task-views.ts timeline): each kind with exactly its fields. */
const timelineEventSchema: JsonSchema = {
  oneOf: [
    exact({
      at_ms: int,
      event: { type: "string", enum: ["submitted", "claimed", "handed_back", "cancel_requested"] },
    }),
    exact({
      at_ms: int,
      event: tag("upstream_attempt"),
      channel_id: orNull("string"),
      outcome: { type: ["string", "null"], enum: ["ok", "error", "aborted", null] },
      error_code: orNull("string"),
      duration_ms: orNull("integer"),
    }),
    {
      ...exact({
        at_ms: int,
        event: tag("finished"),
        outcome: { type: "string", enum: ["completed", "failed"] },
        duration_ms: int,
        error_code: { type: "string", description: "When it failed." },
      }),
      required: ["at_ms", "event", "outcome", "duration_ms"],
    },
  ],
};

/** One task with its request, results, timeline and callbacks (adminTaskDetail). */
export const adminTaskDetailSchema = exact({
  ...adminTaskProperties,
  request: {
    type: "object",
    description: "The request as stored, after validation and normalisation.",
    properties: { model: str, prompt: str, n: int },
    required: ["model", "prompt", "n"],
  },
  results: { type: "array", items: str },
  timeline: { type: "array", items: timelineEventSchema },
  callbacks: {
    type: "array",
    items: exact({
      id: str,
      status: { type: "string", enum: ["pending", "delivered", "failed"] },
      url: str,
      attempts: {
        type: "array",
        items: exact({
          at_ms: int,
          status_code: orNull("integer"),
          error: orNull("string"),
          duration_ms: int,
        }),
      },
    }),
  },
});

/** The console's overview of the last minutes (stats.ts). */
export const adminStatsSchema = exact({
  object: tag("stats"),
  window_minutes: { type: "integer", minimum: 1, maximum: 1440 },
  per_minute: {
    type: "array",
    items: exact({ minute: int, submitted: int, completed: int, failed: int }),
  },
  success_rate: { type: ["number", "null"], minimum: 0, maximum: 1 },
  credits_spent: num,
  durations: {
    type: "array",
    items: exact({
      model: str,
      channel_id: orNull("string"),
      count: int,
      p50_ms: int,
      p95_ms: int,
    }),
  },
  queue_depth: {
    type: "object",
    description: "Pending tasks per model, now.",
    additionalProperties: int,
  },
  in_flight: int,
});

/** `{object: "list", data}`: a short list, whole. */
export const shortList = (item: JsonSchema): JsonSchema =>
  exact({ object: tag("list"), data: { type: "array", items: item } });

/** An operator's paged listing (parse.ts listAnswer). */
export const pagedList = (item: JsonSchema): JsonSchema =>
  exact({
    object: tag("list"),
    data: { type: "array", items: item },
    total: int,
    total_capped: bool,
    page: orNull("integer"),
    page_size: int,
    next_cursor: orNull("string"),
  });

/** A listing paged only by keyset cursor: no page numbers, no total (admin/tasks.ts). */
export const cursorList = (item: JsonSchema): JsonSchema =>
  exact({
    object: tag("list"),
    data: { type: "array", items: item },
    has_more: bool,
    next_cursor: orNull("string"),
  });
