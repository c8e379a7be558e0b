/** GET /v1/credits and GET /v1/models: what the caller's key may spend and use. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import { modelRulesJson, modelRulesSchema } from "../../core/model-rules.js";
import { microsToCredits } from "../../core/money.js";
import type { AppDeps } from "../app.js";

const credit = { type: "number" } as const;

/** GET /v1/credits: the account's and the key's credits (EvoLink's shape). */
export const creditsSchema = {
  type: "object",
  properties: {
    success: { type: "boolean" },
    message: { type: "string" },
    data: {
      type: "object",
      properties: {
        user: {
          type: "object",
          properties: { remaining_credits: credit, used_credits: credit },
          required: ["remaining_credits", "used_credits"],
        },
        token: {
          type: "object",
          properties: {
            remaining_credits: credit,
            used_credits: credit,
            unlimited_credits: { type: "boolean" },
          },
          required: ["remaining_credits", "used_credits", "unlimited_credits"],
        },
      },
      required: ["user", "token"],
    },
  },
  required: ["success", "message", "data"],
} as const;

/** GET /v1/models: the models the key may use. */
export const modelListSchema = {
  type: "object",
  properties: {
    object: { type: "string" },
    data: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          object: { type: "string" },
          owned_by: { type: "string" },
          type: { type: "string" },
          price_per_image: credit,
          qualities: { type: "array", items: { type: "string" } },
          max_images: { type: "integer" },
          rules: modelRulesSchema,
        },
        additionalProperties: false,
        required: [
          "id",
          "object",
          "owned_by",
          "type",
          "price_per_image",
          "qualities",
          "max_images",
          "rules",
        ],
      },
    },
  },
  required: ["object", "data"],
} as const;

export type AccountRouteDeps = Pick<AppDeps, "store" | "catalogue">;

export function accountRoutes(app: FastifyInstance, deps: AccountRouteDeps): void {
  app.get("/credits", { schema: { response: { 200: creditsSchema } } }, async (req) => {
    const p = req.principal;
    const c = await deps.store.getCredits(p.accountId, p.keyId);
    if (!c) throw new ApiError("unauthorized", "The API key is not valid.");
    const available = c.account.balanceMicros - c.account.heldMicros;
    const keyRemaining =
      c.key.creditLimitMicros === null
        ? available
        : Math.min(available, c.key.creditLimitMicros - c.key.usedMicros - c.key.heldMicros);
    return {
      success: true,
      message: "ok",
      data: {
        user: {
          remaining_credits: microsToCredits(available),
          used_credits: microsToCredits(c.account.usedMicros),
        },
        token: {
          remaining_credits: microsToCredits(Math.max(0, keyRemaining)),
          used_credits: microsToCredits(c.key.usedMicros),
          unlimited_credits: c.key.creditLimitMicros === null,
        },
      },
    };
  });

  // Not a serializer schema: a field added to this answer must not be dropped silently
  // (the OpenAPI test checks real answers against modelListSchema instead).
  app.get("/models", async (req) => {
    const allowed = req.principal.allowedModels;
    const models = deps.catalogue.list().filter((m) => (allowed ? allowed.includes(m.id) : true));
    return {
      object: "list",
      data: models.map((m) => ({
        id: m.id,
        object: "model",
        owned_by: m.ownedBy,
        type: "image",
        price_per_image: microsToCredits(m.priceMicros),
        qualities: m.qualities,
        max_images: m.maxN,
        // Everything a submission is checked against, in the config file's terms.
        rules: modelRulesJson(m),
      })),
    };
  });
}
