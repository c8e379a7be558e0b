/**
 * Temporary: a channel's definition now lives in core/channel-definition.ts (the
 * config file, the store and the router all need it). The two store-side files that
 * still import it from here are moved in the store-seam branch; then this goes.
 */
export type { ChannelDefinition } from "../core/channel-definition.js";
