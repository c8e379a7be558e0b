/**
 * Which addresses a user-chosen URL may never reach (SSRF rules), as pure functions.
 * Used at submission on literal hosts, and by the safe fetcher on every address a
 * name resolves to, at connect time.
 *
 * Blocked: unspecified, loopback, private (RFC 1918), CGNAT, link-local, multicast,
 * reserved and documentation ranges; IPv6 unique-local, link- and site-local,
 * multicast; and any IPv6 form that embeds an IPv4 address (mapped, compatible,
 * NAT64, 6to4) when the embedded address is blocked. Teredo is refused outright.
 */
import { isIP } from "node:net";
import { GENERATION_FIELDS } from "./request-schema.js";

type Verdict = { blocked: false } | { blocked: true; reason: string };

const V4_BLOCKS: Array<[cidr: string, reason: string]> = [
  ["0.0.0.0/8", "unspecified address"],
  ["10.0.0.0/8", "private address"],
  ["100.64.0.0/10", "carrier-grade NAT address"],
  ["127.0.0.0/8", "loopback address"],
  ["169.254.0.0/16", "link-local address"],
  ["172.16.0.0/12", "private address"],
  ["192.0.0.0/24", "IETF protocol address"],
  ["192.0.2.0/24", "documentation address"],
  ["192.88.99.0/24", "6to4 relay address"],
  ["192.168.0.0/16", "private address"],
  ["198.18.0.0/15", "benchmarking address"],
  ["198.51.100.0/24", "documentation address"],
  ["203.0.113.0/24", "documentation address"],
  ["224.0.0.0/4", "multicast address"],
  ["240.0.0.0/4", "reserved address"],
];

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

const V4_RANGES = V4_BLOCKS.map(([cidr, reason]) => {
  const [base, bits] = cidr.split("/") as [string, string];
  const size = 2 ** (32 - Number(bits));
  const start = v4ToInt(base);
  return { start, end: start + size - 1, reason };
});

function classifyV4(ip: string): Verdict {
  const n = v4ToInt(ip);
  for (const r of V4_RANGES)
    if (n >= r.start && n <= r.end) return { blocked: true, reason: r.reason };
  return { blocked: false };
}

/** Eight 16-bit groups, or null if not IPv6 text. */
function parseV6(ip: string): number[] | null {
  let text = ip.toLowerCase();
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted IPv4 ("::ffff:127.0.0.1") becomes its two hex groups.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (isIP(tail) !== 4) return null;
    const n = v4ToInt(tail);
    text = `${text.slice(0, lastColon + 1)}${Math.floor(n / 65536).toString(16)}:${(n % 65536).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) =>
    part === ""
      ? []
      : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const groups = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  return groups.some((g) => Number.isNaN(g)) ? null : groups;
}

function embeddedV4(g: number[]): string {
  return [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join(".");
}

function classifyV6(ip: string): Verdict {
  const g = parseV6(ip);
  if (!g) return { blocked: true, reason: "unparseable IPv6 address" };
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 8)) return { blocked: true, reason: "unspecified address" };
  if (zeros(0, 7) && g[7] === 1) return { blocked: true, reason: "loopback address" };
  const viaV4 = (label: string): Verdict => {
    const inner = classifyV4(embeddedV4(g));
    return inner.blocked
      ? { blocked: true, reason: `${label} of a ${inner.reason}` }
      : { blocked: false };
  };
  if (zeros(0, 5) && g[5] === 0xffff) return viaV4("IPv4-mapped form");
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return viaV4("IPv4-translated form");
  if (zeros(0, 6)) return viaV4("IPv4-compatible form");
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return viaV4("NAT64 form");
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1)
    return { blocked: true, reason: "local-use NAT64 address" };
  if (g[0] === 0x2002) {
    const inner = classifyV4([g[1]! >> 8, g[1]! & 255, g[2]! >> 8, g[2]! & 255].join("."));
    return inner.blocked
      ? { blocked: true, reason: `6to4 form of a ${inner.reason}` }
      : { blocked: false };
  }
  if (g[0] === 0x2001 && g[1] === 0) return { blocked: true, reason: "Teredo tunnel address" };
  if (g[0] === 0x2001 && g[1] === 0xdb8) return { blocked: true, reason: "documentation address" };
  if (g[0] === 0x100 && zeros(1, 4)) return { blocked: true, reason: "discard-only address" };
  if ((g[0]! & 0xfe00) === 0xfc00) return { blocked: true, reason: "unique-local address" };
  if ((g[0]! & 0xffc0) === 0xfe80) return { blocked: true, reason: "link-local address" };
  if ((g[0]! & 0xffc0) === 0xfec0) return { blocked: true, reason: "site-local address" };
  if ((g[0]! & 0xff00) === 0xff00) return { blocked: true, reason: "multicast address" };
  return { blocked: false };
}

export function classifyIp(ip: string): Verdict {
  const family = isIP(ip.includes("%") ? ip.slice(0, ip.indexOf("%")) : ip);
  if (family === 4) return classifyV4(ip);
  if (family === 6) return classifyV6(ip);
  return { blocked: true, reason: "not an IP address" };
}

const INTERNAL_SUFFIXES = [
  ".localhost",
  ".local",
  ".internal",
  ".intranet",
  ".lan",
  ".home.arpa",
  ".corp",
];

/**
 * An IPv4 address in any spelling inet_aton accepts — decimal "2130706433", octal
 * "0177.0.0.1", hex "0x7f.1", short "127.1" — as dotted decimal; null if the text is
 * not such a number. WHATWG URL parsing already normalises these, but a host that
 * reaches us by another path (or a resolver that parses numbers) must be caught too.
 */
export function looseIPv4ToDotted(text: string): string | null {
  const parts = text.replace(/\.$/, "").split(".");
  if (parts.length < 1 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) n = parseInt(p, 8);
    else if (/^(0|[1-9][0-9]*)$/.test(p)) n = Number(p);
    else return null;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
  const value = nums.reduce((acc, n, i) => acc + n * 256 ** (3 - i), 0) + last;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** Why a host name may not be used, before any DNS (null = acceptable so far). */
export function checkHostName(hostname: string): string | null {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  const loose = isIP(host) ? null : looseIPv4ToDotted(host);
  if (loose !== null) {
    const v = classifyIp(loose);
    return v.blocked ? `its host is blocked (${v.reason})` : null;
  }
  if (host.startsWith("[") && host.endsWith("]")) {
    const v = classifyIp(host.slice(1, -1));
    return v.blocked ? `its host is blocked (${v.reason})` : null;
  }
  if (isIP(host)) {
    const v = classifyIp(host);
    return v.blocked ? `its host is blocked (${v.reason})` : null;
  }
  if (host === "localhost" || INTERNAL_SUFFIXES.some((s) => host.endsWith(s)))
    return "its host is an internal name";
  if (!host.includes(".")) return "its host is a single-label (internal) name";
  return null;
}

/**
 * Checks a callback URL's text: scheme, length, credentials, literal and internal hosts.
 * `hostVerdict` replaces the host check when the operator's outbound policy allows
 * exceptions (net/policy.ts); names still get their resolved addresses checked at send time.
 */
export function checkCallbackUrl(
  raw: string,
  opts: { allowHttp: boolean; hostVerdict?: (hostname: string) => string | null },
): string | null {
  const max = GENERATION_FIELDS.callbackUrlMaxChars;
  if (raw.length > max) return `callback_url must be at most ${max} characters.`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "callback_url must be an absolute URL.";
  }
  if (url.protocol !== "https:" && !(opts.allowHttp && url.protocol === "http:")) {
    return "callback_url must use https.";
  }
  if (url.username || url.password) return "callback_url must not carry credentials.";
  if (opts.hostVerdict) {
    const refused = opts.hostVerdict(url.hostname);
    return refused ? `callback_url is not allowed: its host is blocked (${refused}).` : null;
  }
  const why = checkHostName(url.hostname);
  return why ? `callback_url is not allowed: ${why}.` : null;
}
