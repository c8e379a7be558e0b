/**
 * The public JSON of a task (GET /v1/tasks/{id}, the submission answer, webhooks),
 * and its JSON Schema, which Fastify compiles into a serializer: faster than
 * JSON.stringify and a guard against leaking internal fields. Part of the contract
 * (api.md), not of HTTP: the webhook dispatcher sends the same JSON.
 */
import { microsToCredits } from "./money.js";
import { isTerminal } from "./task-state.js";
import type { FailureCode, Micros, TaskStatus } from "./types.js";

/** What the public JSON is made from; the store's TaskView carries all of it. */
export interface PublicTaskSource {
  id: string;
  model: string;
  status: TaskStatus;
  progress: number;
  createdAt: number;
  userGroup: string;
  creditsReservedMicros: Micros;
  creditsUsedMicros: Micros | null;
  estimatedSeconds: number;
  results: readonly { key: string }[];
  errorCode: FailureCode | null;
  errorMessage: string | null;
  cancellable: boolean;
}

export interface PublicTask {
  created: number;
  id: string;
  model: string;
  object: "image.generation.task";
  progress: number;
  status: string;
  task_info: { can_cancel: boolean; estimated_time: number };
  type: "image";
  usage: {
    billing_rule: "per_call";
    credits_reserved: number;
    credits_used?: number;
    user_group: string;
  };
  results?: string[];
  error?: { code: string; message: string; type: "task_error" };
}

export type LinkSigner = (key: string) => string;

export function taskView(t: PublicTaskSource, sign: LinkSigner): PublicTask {
  const terminal = isTerminal(t.status);
  const view: PublicTask = {
    created: t.createdAt,
    id: t.id,
    model: t.model,
    object: "image.generation.task",
    progress: t.status === "completed" ? 100 : Math.min(t.progress, 99),
    status: t.status,
    task_info: { can_cancel: !terminal && t.cancellable, estimated_time: t.estimatedSeconds },
    type: "image",
    usage: {
      billing_rule: "per_call",
      credits_reserved: microsToCredits(t.creditsReservedMicros),
      user_group: t.userGroup,
    },
  };
  if (terminal) view.usage.credits_used = microsToCredits(t.creditsUsedMicros ?? 0);
  if (t.status === "completed") view.results = t.results.map((r) => sign(r.key));
  if (t.status === "failed") {
    view.error = {
      code: t.errorCode ?? "unknown_error",
      message: t.errorMessage ?? "The task failed.",
      type: "task_error",
    };
  }
  return view;
}

export const taskSchema = {
  type: "object",
  properties: {
    created: { type: "integer" },
    id: { type: "string" },
    model: { type: "string" },
    object: { type: "string" },
    progress: { type: "integer" },
    status: { type: "string" },
    task_info: {
      type: "object",
      properties: { can_cancel: { type: "boolean" }, estimated_time: { type: "integer" } },
      required: ["can_cancel", "estimated_time"],
    },
    type: { type: "string" },
    usage: {
      type: "object",
      properties: {
        billing_rule: { type: "string" },
        credits_reserved: { type: "number" },
        credits_used: { type: "number" },
        user_group: { type: "string" },
      },
      required: ["billing_rule", "credits_reserved", "user_group"],
    },
    results: { type: "array", items: { type: "string" } },
    error: {
      type: "object",
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        type: { type: "string" },
      },
      required: ["code", "message", "type"],
    },
  },
  required: [
    "created",
    "id",
    "model",
    "object",
    "progress",
    "status",
    "task_info",
    "type",
    "usage",
  ],
} as const;
