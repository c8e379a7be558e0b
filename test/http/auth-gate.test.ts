/** The fast path's admission: the header memo saves hashing, never the key check. */
import { describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/core/credentials.js";
import { AuthGate, KeyCache } from "../../src/http/plugins/auth.js";
import type { KeyPrincipal, Store } from "../../src/store/store.js";
import { testPrincipal } from "../helpers/principal.js";

const KEY = "sk-" + "a".repeat(40);
const principal = (over: Partial<KeyPrincipal> = {}): KeyPrincipal =>
  testPrincipal({ keyId: "key_1", accountId: "acct_1", ...over });

function gateWith(found: () => KeyPrincipal | null) {
  const lookups: string[] = [];
  const store = {
    findKeyByHash: async (hash: string) => {
      lookups.push(hash);
      return found();
    },
  } as unknown as Store;
  const cache = new KeyCache(store, 60_000);
  return { gate: new AuthGate(cache), cache, lookups };
}

describe("AuthGate.peekAdmissible", () => {
  it("admits only what the key cache holds, however often the header was seen", async () => {
    let current: KeyPrincipal | null = principal();
    const { gate, cache } = gateWith(() => current);
    const header = `Bearer ${KEY}`;
    expect(gate.peekAdmissible(header, 1000)).toBeUndefined(); // not cached yet
    await cache.lookup(hashApiKey(KEY), 1000);
    expect(gate.peekAdmissible(header, 1000)?.keyId).toBe("key_1");
    expect(gate.peekAdmissible(header, 1001)?.keyId).toBe("key_1"); // from the memo
    // Revocation on this process empties the cache: the memo alone admits nothing.
    cache.forgetAll();
    current = principal({ revoked: true });
    expect(gate.peekAdmissible(header, 1002)).toBeUndefined();
    await cache.lookup(hashApiKey(KEY), 1002);
    expect(gate.peekAdmissible(header, 1003)).toBeUndefined();
  });

  it("refuses malformed headers and keys with an rpm limit", async () => {
    const { gate, cache } = gateWith(() => principal({ rpmLimit: 10 }));
    await cache.lookup(hashApiKey(KEY), 1000);
    expect(gate.peekAdmissible(`Bearer ${KEY}`, 1000)).toBeUndefined();
    expect(gate.peekAdmissible(`Basic ${KEY}`, 1000)).toBeUndefined();
    expect(gate.peekAdmissible(undefined, 1000)).toBeUndefined();
    expect(gate.peekAdmissible("", 1000)).toBeUndefined();
  });

  it("admits the same key under each spelling of its header", async () => {
    const { gate, cache } = gateWith(() => principal());
    await cache.lookup(hashApiKey(KEY), 1000);
    for (const h of [`Bearer ${KEY}`, `bearer ${KEY}`, `Bearer  ${KEY} `])
      expect(gate.peekAdmissible(h, 1000)?.keyId).toBe("key_1");
  });
});
