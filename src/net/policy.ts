/**
 * The outbound policy: which destinations a user-chosen URL may reach, as pure
 * functions (no I/O). The default policy allows every public address and nothing else
 * (see core/ip-rules.ts for what "not public" means). Operators may allow specific
 * host names and CIDR ranges for on-prem targets and tests with
 * DARKROOM_OUTBOUND_ALLOW="images.corp.example,.svc.example,10.1.0.0/16,127.0.0.1/32".
 *
 * - A host entry matches that exact name; an entry starting with "." matches every
 *   name under it. An allowed name skips the internal-name check and its resolved
 *   addresses are not range-checked (the operator vouched for the name).
 * - A CIDR entry (or a bare IP, meaning /32 or /128) allows addresses inside it, both
 *   as literal hosts and as resolved or connected addresses. IPv4-mapped IPv6
 *   addresses are matched as their IPv4 address.
 */
import { isIP } from "node:net";
import { checkHostName, classifyIp, looseIPv4ToDotted } from "../core/ip-rules.js";

export interface OutboundPolicy {
  /** Lower-case host names; ".example.com" matches any name under example.com. */
  allowHosts: string[];
  /** CIDR ranges, e.g. "127.0.0.0/8", "fd00::/8". */
  allowCidrs: string[];
}

/** Allows the public internet only. */
export const DEFAULT_OUTBOUND_POLICY: OutboundPolicy = Object.freeze({
  allowHosts: Object.freeze([]) as unknown as string[],
  allowCidrs: Object.freeze([]) as unknown as string[],
});

/** Parses DARKROOM_OUTBOUND_ALLOW; throws an Error naming the bad entry. */
export function parseOutboundAllow(text: string | undefined): OutboundPolicy {
  const policy: OutboundPolicy = { allowHosts: [], allowCidrs: [] };
  for (const raw of (text ?? "").split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const bare = entry.replace(/^\[(.*)\]$/, "$1");
    if (bare.includes("/") || isIP(bare)) {
      if (!parseCidr(bare)) throw new Error(`"${entry}" is not a valid CIDR range`);
      policy.allowCidrs.push(isIP(bare) ? `${bare}/${isIP(bare) === 4 ? 32 : 128}` : bare);
    } else if (
      /^\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(entry)
    ) {
      policy.allowHosts.push(entry);
    } else {
      throw new Error(`"${entry}" is neither a host name nor a CIDR range`);
    }
  }
  return policy;
}

interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

function parseCidr(text: string): Cidr | null {
  const [addr, len, extra] = text.split("/");
  if (extra !== undefined || !addr) return null;
  const family = isIP(addr);
  if (family !== 4 && family !== 6) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  const bits = family === 4 ? v4Bits(addr) : v6Bits(addr);
  return bits === null ? null : { family, bits, prefix };
}

function v4Bits(ip: string): bigint {
  return ip.split(".").reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

/** 128-bit value of IPv6 text (zone dropped; dotted tail allowed), or null. */
function v6Bits(ip: string): bigint | null {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (isIP(tail) !== 4) return null;
    const n = Number(v4Bits(tail));
    text = `${text.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/** "::ffff:a.b.c.d" (or its hex form) → "a.b.c.d"; anything else unchanged. */
export function unmapIPv4(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const v = v6Bits(ip);
  if (v === null || v >> 32n !== 0xffffn) return ip;
  const n = Number(v & 0xffffffffn);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function inCidr(ip: string, cidr: Cidr): boolean {
  const family = isIP(ip);
  if (family !== cidr.family) return false;
  const bits = family === 4 ? v4Bits(ip) : v6Bits(ip);
  if (bits === null) return false;
  const width = BigInt(family === 4 ? 32 : 128);
  const shift = width - BigInt(cidr.prefix);
  return bits >> shift === cidr.bits >> shift;
}

export function hostAllowed(policy: OutboundPolicy, hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return policy.allowHosts.some((h) =>
    h.startsWith(".") ? host.endsWith(h) || host === h.slice(1) : host === h,
  );
}

function addressAllowedByCidr(policy: OutboundPolicy, ip: string): boolean {
  const plain = unmapIPv4(ip.replace(/%.*$/, ""));
  return policy.allowCidrs.some((c) => {
    const cidr = parseCidr(c);
    return cidr !== null && inCidr(plain, cidr);
  });
}

/**
 * Why this address may not be contacted for this host (null = it may).
 * `hostname` is the name the URL gave (an allowed name vouches for its addresses).
 */
export function addressVerdict(
  policy: OutboundPolicy,
  hostname: string | null,
  ip: string,
): string | null {
  if (hostname !== null && !isIP(hostname) && hostAllowed(policy, hostname)) return null;
  if (addressAllowedByCidr(policy, ip)) return null;
  const v = classifyIp(ip);
  return v.blocked ? v.reason : null;
}

/**
 * Why a URL's host is refused before any DNS (null = go on and resolve it): literal
 * addresses are range-checked, internal-looking names (localhost, *.internal,
 * single-label) are refused unless allowed.
 */
export function hostVerdict(policy: OutboundPolicy, hostname: string): string | null {
  const host = hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host)) return addressVerdict(policy, null, host);
  const loose = looseIPv4ToDotted(host);
  if (loose !== null) return addressVerdict(policy, null, loose);
  if (hostAllowed(policy, host)) return null;
  const why = checkHostName(host);
  return why === null ? null : "internal host name";
}
