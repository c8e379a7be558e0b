/**
 * First start on an empty database: the admin credential, the `default` account and
 * its first API key with its credits, all in one transaction. The generated secrets
 * are returned so the caller can print them once; only their hashes are stored.
 */
import { randomBytes } from "node:crypto";
import { hashAdminToken, hashApiKey } from "../core/credentials.js";
import { newAdminToken, newApiKey } from "../core/ids.js";
import type { Config } from "../config/config.js";
import type { Store } from "../store/store.js";

export interface BootstrapOutcome {
  created: boolean;
  /** Present only when generated here (not supplied through the environment). */
  generatedAdminToken?: string;
  generatedApiKey?: string;
}

export async function bootstrapIfEmpty(
  store: Store,
  config: Config,
  nowMs = Date.now(),
): Promise<BootstrapOutcome> {
  await store.upsertGroups(config.groups, nowMs);
  if (!(await store.isEmpty())) return { created: false };
  const adminToken = config.adminToken ?? newAdminToken();
  const apiKey = config.bootstrapApiKey ?? newApiKey();
  await store.bootstrap({
    nowMs,
    adminTokenHash: hashAdminToken(adminToken),
    accountName: "default",
    groupName: "default",
    groups: config.groups,
    apiKey: {
      id: `key_${randomBytes(8).toString("hex")}`,
      hash: hashApiKey(apiKey),
      prefix: apiKey.slice(0, 10),
    },
    creditsMicros: config.bootstrapCreditsMicros,
    webhookSecret: `whsec_${randomBytes(24).toString("base64")}`,
  });
  return {
    created: true,
    ...(config.adminToken ? {} : { generatedAdminToken: adminToken }),
    ...(config.bootstrapApiKey ? {} : { generatedApiKey: apiKey }),
  };
}
