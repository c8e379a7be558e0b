/** The SSRF address rules: hostile spellings blocked, each for the stated reason. */
import { describe, expect, it } from "vitest";
import { checkCallbackUrl, classifyIp } from "../../src/core/ip-rules.js";

const blocked: Array<[string, RegExp]> = [
  ["127.0.0.1", /loopback/],
  ["127.255.255.254", /loopback/],
  ["0.0.0.0", /unspecified/],
  ["10.0.0.1", /private/],
  ["172.16.0.1", /private/],
  ["172.31.255.255", /private/],
  ["192.168.1.1", /private/],
  ["100.64.0.1", /carrier-grade/],
  ["169.254.169.254", /link-local/],
  ["224.0.0.1", /multicast/],
  ["240.0.0.1", /reserved/],
  ["255.255.255.255", /reserved/],
  ["198.18.0.1", /benchmarking/],
  ["192.0.2.1", /documentation/],
  ["::", /unspecified/],
  ["::1", /loopback/],
  ["fe80::1", /link-local/],
  ["fe80::1%eth0", /link-local/],
  ["fc00::1", /unique-local/],
  ["fd12:3456::1", /unique-local/],
  ["fec0::1", /site-local/],
  ["ff02::1", /multicast/],
  ["::ffff:127.0.0.1", /IPv4-mapped form of a loopback/],
  ["::ffff:7f00:1", /IPv4-mapped form of a loopback/],
  ["::ffff:10.0.0.1", /IPv4-mapped form of a private/],
  ["::127.0.0.1", /IPv4-compatible form of a loopback/],
  ["64:ff9b::7f00:1", /NAT64 form of a loopback/],
  ["64:ff9b::a9fe:a9fe", /NAT64 form of a link-local/],
  ["64:ff9b:1::1", /local-use NAT64/],
  ["2002:7f00:1::1", /6to4 form of a loopback/],
  ["2001:0:4136:e378::1", /Teredo/],
  ["2001:db8::1", /documentation/],
  ["not-an-ip", /not an IP/],
];

describe("classifyIp", () => {
  for (const [ip, reason] of blocked) {
    it(`blocks ${ip}`, () => {
      const v = classifyIp(ip);
      expect(v.blocked).toBe(true);
      if (v.blocked) expect(v.reason).toMatch(reason);
    });
  }
  for (const ip of [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "172.32.0.1",
    "100.128.0.1",
  ]) {
    it(`allows ${ip}`, () => expect(classifyIp(ip)).toEqual({ blocked: false }));
  }
});

describe("checkCallbackUrl", () => {
  const hostile = [
    "http://example.com/hook",
    "ftp://example.com/hook",
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://0x7f000001/",
    "https://2130706433/",
    "https://017700000001/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://127.0.1/",
    "https://10.0.0.1/",
    "https://192.168.1.1/",
    "https://172.16.0.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[64:ff9b::7f00:1]/",
    "https://0.0.0.0/",
    "https://0/",
    "https://224.0.0.1/",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://foo.localhost/",
    "https://printer.local/",
    "https://db.internal/",
    "https://intranet/",
    "https://user:pass@example.com/",
    `https://example.com/${"a".repeat(2040)}`,
    "not a url",
    "//example.com/hook",
    "javascript:alert(1)",
  ];
  for (const u of hostile) {
    it(`refuses ${u.slice(0, 60)}`, () =>
      expect(checkCallbackUrl(u, { allowHttp: false })).not.toBeNull());
  }
  it("accepts public https URLs", () => {
    expect(checkCallbackUrl("https://example.com/hook?x=1", { allowHttp: false })).toBeNull();
    expect(checkCallbackUrl("https://8.8.8.8/hook", { allowHttp: false })).toBeNull();
  });
  it("accepts http only when the operator allows it", () => {
    expect(checkCallbackUrl("http://example.com/hook", { allowHttp: true })).toBeNull();
  });
});
