/** /admin/v1 keys: create (secret shown once), list, get, change settings, revoke. */
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { hashApiKey } from "../../../core/credentials.js";
import { ApiError } from "../../../core/errors.js";
import { newApiKey } from "../../../core/ids.js";
import type { KeySettings } from "../../../store/admin.js";
import type { AppDeps } from "../../app.js";
import { unwrap } from "./accounts.js";
import { credits, parseBody } from "./parse.js";
import { audit } from "../../plugins/admin-audit.js";
import { keyView } from "./views.js";

export const settings = z
  .object({
    name: z.string().trim().max(100).optional(),
    allowed_models: z.array(z.string().min(1)).max(100).nullable().optional(),
    credit_limit: credits().nullable().optional(),
    rpm_limit: z.number().int().min(1).max(1_000_000).nullable().optional(),
    max_concurrent: z.number().int().min(1).max(100_000).nullable().optional(),
    expires_at: z.number().int().min(0).nullable().optional(),
  })
  .strict();

function toSettings(b: z.infer<typeof settings>, deps: Pick<AppDeps, "catalogue">): KeySettings {
  for (const m of b.allowed_models ?? []) {
    if (!deps.catalogue.get(m))
      throw new ApiError("invalid_request", `Unknown model ${m}.`, { param: "allowed_models" });
  }
  const s: KeySettings = {};
  if (b.name !== undefined) s.name = b.name;
  if (b.allowed_models !== undefined) s.allowedModels = b.allowed_models;
  if (b.credit_limit !== undefined) s.creditLimitMicros = b.credit_limit;
  if (b.rpm_limit !== undefined) s.rpmLimit = b.rpm_limit;
  if (b.max_concurrent !== undefined) s.maxConcurrent = b.max_concurrent;
  if (b.expires_at !== undefined) s.expiresAt = b.expires_at;
  return s;
}

export type AdminKeyRouteDeps = Pick<AppDeps, "admin" | "keys" | "catalogue">;

export function adminKeyRoutes(app: FastifyInstance, deps: AdminKeyRouteDeps): void {
  app.get<{ Params: { id: string } }>("/accounts/:id/keys", async (req) => {
    if (!(await deps.admin.getAccount(req.params.id)))
      throw new ApiError("not_found", "No such account.");
    return { object: "list", data: (await deps.admin.listKeys(req.params.id)).map(keyView) };
  });

  app.post<{ Params: { id: string } }>("/accounts/:id/keys", async (req) => {
    const b = parseBody(settings, req.body);
    // A key born expired is a mistake (to end a key, PATCH its expiry or revoke it).
    if (b.expires_at != null && b.expires_at * 1000 <= Date.now()) {
      throw new ApiError("invalid_request", "expires_at must be in the future.", {
        param: "expires_at",
      });
    }
    const secret = newApiKey();
    const key = unwrap(
      await deps.admin.createKey({
        id: `key_${randomBytes(8).toString("hex")}`,
        accountId: req.params.id,
        hash: hashApiKey(secret),
        prefix: secret.slice(0, 10),
        settings: toSettings(b, deps),
        nowMs: Date.now(),
      }),
      "account",
    );
    audit(req, { keyId: key.id, changed: changedFields(b, keyView(key)) });
    // The only time the secret leaves the server; it is stored as a hash.
    return { ...keyView(key), key: secret };
  });

  app.get<{ Params: { id: string } }>("/keys/:id", async (req) => {
    const k = await deps.admin.getKey(req.params.id);
    if (!k) throw new ApiError("not_found", "No such API key.");
    return keyView(k);
  });

  app.patch<{ Params: { id: string } }>("/keys/:id", async (req) => {
    const b = parseBody(settings, req.body);
    const before = await deps.admin.getKey(req.params.id);
    const k = unwrap(await deps.admin.updateKey(req.params.id, toSettings(b, deps)), "API key");
    if (before)
      audit(req, {
        accountId: k.accountId,
        before: changedFields(b, keyView(before)),
        after: changedFields(b, keyView(k)),
      });
    deps.keys.forgetAll();
    return keyView(k);
  });

  app.post<{ Params: { id: string } }>("/keys/:id/revoke", async (req) => {
    const k = unwrap(await deps.admin.revokeKey(req.params.id, Date.now()), "API key");
    audit(req, { accountId: k.accountId });
    deps.keys.forgetAll();
    return keyView(k);
  });
}

/** The settings a request named, as the key's view shows them (for the audit line). */
function changedFields(
  body: z.infer<typeof settings>,
  view: ReturnType<typeof keyView>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(body) as Array<keyof typeof body>) out[field] = view[field];
  return out;
}
