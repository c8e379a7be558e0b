/** The outbound policy's pure parts: the allow-list, CIDR matching, odd IPv4 spellings. */
import { describe, expect, it } from "vitest";
import { checkHostName, looseIPv4ToDotted } from "../../src/core/ip-rules.js";
import {
  addressVerdict,
  DEFAULT_OUTBOUND_POLICY,
  hostVerdict,
  parseOutboundAllow,
  unmapIPv4,
} from "../../src/net/policy.js";

describe("DARKROOM_OUTBOUND_ALLOW parsing", () => {
  it("splits hosts and CIDRs, bare IPs become single-address ranges", () => {
    expect(parseOutboundAllow(" Images.Corp , .svc.example,10.1.0.0/16, 127.0.0.1,::1 ,")).toEqual({
      allowHosts: ["images.corp", ".svc.example"],
      allowCidrs: ["10.1.0.0/16", "127.0.0.1/32", "::1/128"],
    });
    expect(parseOutboundAllow(undefined)).toEqual({ allowHosts: [], allowCidrs: [] });
  });

  it.each(["10.0.0.0/33", "300.1.1.1/8", "fd00::/129", "a b", "http://x.com", "1.2.3.4/8/1"])(
    "refuses %s",
    (entry) => expect(() => parseOutboundAllow(entry)).toThrow(/not a valid|neither/),
  );
});

describe("verdicts", () => {
  const policy = parseOutboundAllow("10.1.0.0/16,127.0.0.1,images.corp,.svc.example,fd00::/8");

  it("allowed CIDRs admit addresses, mapped IPv4 included; others keep their reason", () => {
    expect(addressVerdict(policy, null, "10.1.2.3")).toBeNull();
    expect(addressVerdict(policy, null, "::ffff:10.1.2.3")).toBeNull();
    expect(addressVerdict(policy, null, "fd12::1")).toBeNull();
    expect(addressVerdict(policy, null, "10.2.0.1")).toBe("private address");
    expect(addressVerdict(policy, null, "127.0.0.2")).toBe("loopback address");
    expect(addressVerdict(DEFAULT_OUTBOUND_POLICY, null, "8.8.8.8")).toBeNull();
  });

  it("an allowed name vouches for its addresses; a literal address never counts as a name", () => {
    expect(addressVerdict(policy, "images.corp", "192.168.9.9")).toBeNull();
    expect(addressVerdict(policy, "a.svc.example", "192.168.9.9")).toBeNull();
    expect(addressVerdict(policy, "svc.example", "192.168.9.9")).toBeNull();
    expect(addressVerdict(policy, "evilsvc.example", "192.168.9.9")).toBe("private address");
    expect(hostVerdict(policy, "images.corp")).toBeNull();
    expect(hostVerdict(DEFAULT_OUTBOUND_POLICY, "images.corp")).toBe("internal host name");
    expect(hostVerdict(policy, "[::1]")).toBe("loopback address");
    expect(hostVerdict(DEFAULT_OUTBOUND_POLICY, "example.com")).toBeNull();
  });

  it("unmaps IPv4-mapped IPv6 only", () => {
    expect(unmapIPv4("::ffff:7f00:1")).toBe("127.0.0.1");
    expect(unmapIPv4("::ffff:10.0.0.1")).toBe("10.0.0.1");
    expect(unmapIPv4("64:ff9b::7f00:1")).toBe("64:ff9b::7f00:1");
    expect(unmapIPv4("1.2.3.4")).toBe("1.2.3.4");
  });
});

describe("odd IPv4 spellings are read as inet_aton reads them", () => {
  it.each([
    ["2130706433", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["0", "0.0.0.0"],
    ["0xa9.0xfe.0xa9.0xfe", "169.254.169.254"],
    ["10.0.0.1.", "10.0.0.1"],
  ])("%s → %s", (text, dotted) => expect(looseIPv4ToDotted(text)).toBe(dotted));

  it.each(["256.0.0.1", "1.2.3.4.5", "08.0.0.1", "example.com", "4294967296", "1.16777216"])(
    "%s is not an IPv4 number",
    (text) => expect(looseIPv4ToDotted(text)).toBeNull(),
  );

  it("checkHostName refuses them even when no URL parser normalised them", () => {
    expect(checkHostName("0177.0.0.1")).toMatch(/loopback/);
    expect(checkHostName("0x7f.1")).toMatch(/loopback/);
    expect(checkHostName("2130706433")).toMatch(/loopback/);
    expect(hostVerdict(DEFAULT_OUTBOUND_POLICY, "012.1")).toBe("private address");
  });
});
