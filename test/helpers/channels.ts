/** A ChannelRouter for tests that build the runner or the app by hand (no database channels). */
import pino from "pino";
import type { ChannelStore } from "../../src/store/channels.js";
import { loadChannelsConfig } from "../../src/config/channels.js";
import type { ManageDeps } from "../../src/channels/manage.js";
import { ChannelRouter } from "../../src/channels/router.js";
import { BUILTIN_MODELS } from "../../src/core/models.js";
import type { ProviderRegistry } from "../../src/providers/registry.js";

export const emptyChannelStore: ChannelStore = {
  listChannels: async () => [],
  createChannel: async () => false,
  updateChannel: async () => false,
  deleteChannel: async () => false,
  channelLoad: async () => new Map(),
  listBreakers: async () => [],
  saveBreaker: async () => {},
};

/** Every built-in model served by the registry's sandbox (when it has one), like a default start. */
export async function sandboxRouter(registry: ProviderRegistry): Promise<ChannelRouter> {
  const router = new ChannelRouter({
    registry,
    config: loadChannelsConfig(null, [], {}, (m) => new Error(m)),
    store: emptyChannelStore,
    modelIds: () => BUILTIN_MODELS.map((m) => m.id),
    log: pino({ level: "silent" }),
  });
  await router.reload();
  return router;
}

export function channelAdminFor(router: ChannelRouter): ManageDeps {
  return {
    router,
    store: emptyChannelStore,
    provider: () => undefined,
    modelExists: () => false,
    lookupEnv: () => undefined,
    now: Date.now,
  };
}
