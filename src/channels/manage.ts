/**
 * Admin changes to channels: validate against the providers (validateChannel), the catalogue and the
 * environment, write the `channels` table, and reload the router so the change is in
 * force at once in this process (other processes pick it up within `reloadMs`).
 * Channels from the config file (and the built-in sandbox ones) are read-only here.
 */
import { resolveSecret } from "../config/channel-secret.js";
import type { EnvLookup } from "../config/channels.js";
import {
  applyPatch,
  definitionFromJson,
  type ChannelDefinition,
  type ChannelJson,
  type ChannelPatchJson,
} from "../core/channel-definition.js";
import type { Provider } from "../providers/contract.js";
import type { ChannelStore } from "../store/channels.js";
import { providerProblem } from "./provider-check.js";
import type { ChannelRouter } from "./router.js";

export type ManageResult =
  | { ok: true; id: string }
  | { ok: false; reason: "not_found" }
  | { ok: false; reason: "conflict" | "read_only" | "invalid"; message: string; param?: string };

export interface ManageDeps {
  router: ChannelRouter;
  store: ChannelStore;
  provider: (name: string) => Provider | undefined;
  modelExists: (id: string) => boolean;
  lookupEnv: EnvLookup;
  now: () => number;
}

function check(d: ChannelDefinition, deps: ManageDeps): ManageResult | null {
  const provider = deps.provider(d.provider);
  if (!provider)
    return {
      ok: false,
      reason: "invalid",
      message: `Unknown provider ${d.provider}.`,
      param: "provider",
    };
  if (!deps.modelExists(d.model))
    return { ok: false, reason: "invalid", message: `Unknown model ${d.model}.`, param: "model" };
  const bad = providerProblem(provider, d);
  if (bad)
    return {
      ok: false,
      reason: "invalid",
      message: `Invalid ${d.provider} channel: ${bad.message}.`,
      param: bad.param,
    };
  const secret = resolveSecret(d, { [d.apiKeyEnv ?? ""]: deps.lookupEnv(d.apiKeyEnv ?? "") });
  if (!secret.ok) {
    return {
      ok: false,
      reason: "invalid",
      message: `The secret cannot be read: ${secret.why}.`,
      param: d.apiKeyEnv ? "api_key_env" : "api_key_file",
    };
  }
  return null;
}

export async function createChannel(j: ChannelJson, deps: ManageDeps): Promise<ManageResult> {
  const d = definitionFromJson(j);
  const bad = check(d, deps);
  if (bad) return bad;
  const existing = deps.router.get(d.id);
  if (existing && existing.source !== "admin")
    return {
      ok: false,
      reason: "conflict",
      message: `Channel ${d.id} is defined in the config file.`,
    };
  if (!(await deps.store.createChannel(d, deps.now())))
    return { ok: false, reason: "conflict", message: `Channel ${d.id} already exists.` };
  await deps.router.reload();
  return { ok: true, id: d.id };
}

export async function updateChannel(
  id: string,
  patch: ChannelPatchJson,
  deps: ManageDeps,
): Promise<ManageResult> {
  const current = deps.router.get(id);
  if (!current) return { ok: false, reason: "not_found" };
  if (current.source !== "admin") return readOnly(id);
  const next = applyPatch(current.def, patch);
  const bad = check(next, deps);
  if (bad) return bad;
  if (!(await deps.store.updateChannel(next, deps.now())))
    return { ok: false, reason: "not_found" };
  await deps.router.reload();
  return { ok: true, id };
}

export async function deleteChannel(id: string, deps: ManageDeps): Promise<ManageResult> {
  const current = deps.router.get(id);
  if (!current) return { ok: false, reason: "not_found" };
  if (current.source !== "admin") return readOnly(id);
  if (!(await deps.store.deleteChannel(id))) return { ok: false, reason: "not_found" };
  await deps.router.reload();
  return { ok: true, id };
}

function readOnly(id: string): ManageResult {
  return {
    ok: false,
    reason: "read_only",
    message: `Channel ${id} comes from the config file (or is built in) and is read-only here; change the file and restart.`,
  };
}
