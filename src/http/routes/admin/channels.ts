/**
 * /admin/v1/channels: list and read channels with their live health, and create,
 * change or delete admin-defined ones. A secret is only ever a reference
 * (`api_key_env` / `api_key_file`); answers say whether one is set (`has_api_key`),
 * never what it is.
 */
import type { FastifyInstance } from "fastify";
import { channelPatchSchema, channelSchema } from "../../../core/channel-definition.js";
import {
  createChannel,
  deleteChannel,
  updateChannel,
  type ManageDeps,
  type ManageResult,
} from "../../../channels/manage.js";
import type { ChannelRouter, LiveChannel } from "../../../channels/router.js";
import { ApiError } from "../../../core/errors.js";
import type { AppDeps } from "../../app.js";
import { audit } from "../../plugins/admin-audit.js";
import { parseBody } from "./parse.js";

export function channelView(router: ChannelRouter, c: LiveChannel) {
  const d = c.def;
  return {
    id: d.id,
    object: "channel",
    source: c.source,
    model: d.model,
    provider: d.provider,
    base_url: d.baseUrl,
    api_key_env: d.apiKeyEnv,
    api_key_file: d.apiKeyFile,
    has_api_key: c.apiKey !== undefined,
    upstream_model: d.upstreamModel,
    priority: d.priority,
    weight: d.weight,
    max_concurrency: c.source === "builtin" ? null : d.maxConcurrency,
    timeout_ms: d.timeoutMs,
    enabled: d.enabled,
    options: d.options,
    created: c.createdAt,
    updated: c.updatedAt,
    health: router.health(c),
  };
}

function unwrap(r: ManageResult): string {
  if (r.ok) return r.id;
  switch (r.reason) {
    case "not_found":
      throw new ApiError("not_found", "No such channel.");
    case "conflict":
    case "read_only":
      throw new ApiError("conflict", r.message);
    case "invalid":
      throw new ApiError("invalid_request", r.message, r.param ? { param: r.param } : {});
  }
}

export type AdminChannelRouteDeps = Pick<AppDeps, "channels" | "channelAdmin">;

export function adminChannelRoutes(app: FastifyInstance, deps: AdminChannelRouteDeps): void {
  const router = deps.channels;
  const manage: ManageDeps = deps.channelAdmin;
  const view = (id: string) => {
    const c = router.get(id);
    if (!c) throw new ApiError("not_found", "No such channel.");
    return channelView(router, c);
  };

  app.get<{ Querystring: { model?: string } }>("/channels", async (req) => {
    const model = typeof req.query.model === "string" ? req.query.model : null;
    const data = router
      .list()
      .filter((c) => model === null || c.def.model === model)
      .map((c) => channelView(router, c));
    return { object: "list", data };
  });

  app.get<{ Params: { id: string } }>("/channels/:id", async (req) => view(req.params.id));

  app.post("/channels", async (req, reply) => {
    const body = parseBody(channelSchema, req.body);
    const id = unwrap(await createChannel(body, manage));
    audit(req, { channelId: id, changed: Object.keys(body) });
    reply.code(201);
    return view(id);
  });

  app.patch<{ Params: { id: string } }>("/channels/:id", async (req) => {
    const body = parseBody(channelPatchSchema, req.body);
    audit(req, { changed: Object.keys(body) });
    return view(unwrap(await updateChannel(req.params.id, body, manage)));
  });

  app.delete<{ Params: { id: string } }>("/channels/:id", async (req) => {
    const id = unwrap(await deleteChannel(req.params.id, manage));
    return { id, object: "channel", deleted: true };
  });
}
