/** /admin/v1 groups (price multipliers) and models (credits per image). */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../../core/errors.js";
import { microsToCredits, MICROS_PER_CREDIT } from "../../../core/money.js";
import type { AppDeps } from "../../app.js";
import { audit } from "../../plugins/admin-audit.js";
import { credits, multiplier, parseBody } from "./parse.js";

export const groupBody = z.object({ multiplier }).strict();
export const priceBody = z.object({ price: credits() }).strict();

export type AdminCatalogueRouteDeps = Pick<AppDeps, "admin" | "keys" | "catalogue">;

export function adminCatalogueRoutes(app: FastifyInstance, deps: AdminCatalogueRouteDeps): void {
  app.get("/groups", async () => ({
    object: "list",
    data: (await deps.admin.listGroups()).map((g) => ({
      name: g.name,
      object: "group",
      multiplier: g.multiplierPpm / MICROS_PER_CREDIT,
    })),
  }));

  app.put<{ Params: { name: string } }>("/groups/:name", async (req) => {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(req.params.name)) {
      throw new ApiError("invalid_request", "Group names are 1 to 64 letters, digits and . _ -", {
        param: "name",
      });
    }
    const b = parseBody(groupBody, req.body);
    const before = (await deps.admin.listGroups()).find((g) => g.name === req.params.name);
    await deps.admin.putGroup(req.params.name, b.multiplier, Date.now());
    audit(req, {
      before: { multiplier: before ? before.multiplierPpm / MICROS_PER_CREDIT : null },
      after: { multiplier: b.multiplier / MICROS_PER_CREDIT },
    });
    deps.keys.forgetAll();
    return { name: req.params.name, object: "group", multiplier: b.multiplier / MICROS_PER_CREDIT };
  });

  app.get("/models", async () => ({
    object: "list",
    data: deps.catalogue.list().map((m) => ({
      id: m.id,
      object: "model",
      owned_by: m.ownedBy,
      price: microsToCredits(m.priceMicros),
    })),
  }));

  app.put<{ Params: { id: string } }>("/models/:id/price", async (req) => {
    const spec = deps.catalogue.get(req.params.id);
    if (!spec) throw new ApiError("model_not_found", `No model ${req.params.id}.`);
    const b = parseBody(priceBody, req.body);
    const before = spec.priceMicros;
    await deps.admin.putModelPrice(spec.id, b.price, Date.now());
    audit(req, {
      before: { price: microsToCredits(before) },
      after: { price: microsToCredits(b.price) },
    });
    spec.priceMicros = b.price;
    return {
      id: spec.id,
      object: "model",
      owned_by: spec.ownedBy,
      price: microsToCredits(b.price),
    };
  });
}
