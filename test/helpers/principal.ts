/** A plain, valid key principal for tests that stand in for the store's key lookup. */
import type { KeyPrincipal } from "../../src/store/store.js";

export function testPrincipal(over: Partial<KeyPrincipal> = {}): KeyPrincipal {
  return {
    keyId: "k",
    accountId: "a",
    groupName: "default",
    multiplierPpm: 1_000_000,
    allowedModels: null,
    creditLimitMicros: null,
    rpmLimit: null,
    maxConcurrent: null,
    expiresAt: null,
    revoked: false,
    accountDisabled: false,
    ...over,
  };
}
