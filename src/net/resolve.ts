/**
 * Name resolution for the safe fetcher, injectable so tests can point it at a real
 * DNS server on loopback. A resolver returns every address of a name; the fetcher
 * checks all of them and connects only to what it checked.
 */
import { promises as dns } from "node:dns";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), every address. */
export const systemResolve: Resolve = async (hostname) => {
  const all = await dns.lookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Asks the given DNS servers ("127.0.0.1:5353") directly for A and AAAA records. */
export function dnsServerResolve(servers: string[], timeoutMs = 2000): Resolve {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers(servers);
  const quiet = (p: Promise<string[]>) =>
    p.catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENODATA" || err.code === "ENOTFOUND") return [] as string[];
      throw err;
    });
  return async (hostname) => {
    const [v4, v6] = await Promise.all([
      quiet(resolver.resolve4(hostname)),
      quiet(resolver.resolve6(hostname)),
    ]);
    return [
      ...v4.map((address) => ({ address, family: 4 as const })),
      ...v6.map((address) => ({ address, family: 6 as const })),
    ];
  };
}
