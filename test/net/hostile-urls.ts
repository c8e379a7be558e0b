/**
 * Hostile URLs a user may submit (reference images, callback URLs), each with the
 * OutboundError reason the safe fetcher must refuse it for, under the default policy
 * (nothing allowed beyond the public internet) and requireHttps: false. Every one is
 * refused before any packet leaves: literal addresses and internal names need no DNS.
 *
 * Shared by the fetcher tests (test/net/) and the webhooks tests (callbacks). With
 * requireHttps: true, the http: entries fail with "bad_url" instead; the https: ones
 * keep their reason.
 */
import type { OutboundErrorReason } from "../../src/net/errors.js";

export interface HostileUrl {
  url: string;
  reason: OutboundErrorReason;
  category: string;
}

const blocked = (category: string, ...urls: string[]): HostileUrl[] =>
  urls.map((url) => ({ url, reason: "blocked_address", category }));
const badUrl = (category: string, ...urls: string[]): HostileUrl[] =>
  urls.map((url) => ({ url, reason: "bad_url", category }));

export const HOSTILE_URLS: HostileUrl[] = [
  ...badUrl(
    "scheme",
    "ftp://example.com/a.png",
    "file:///etc/passwd",
    "gopher://example.com:70/_GET",
    "javascript:alert(1)",
    "data:image/png;base64,iVBORw0KGgo=",
    "ws://example.com/socket",
  ),
  ...badUrl(
    "userinfo",
    "http://user:pass@example.com/a.png",
    "https://admin@example.com/a.png",
    "http://:secret@example.com/",
    "http://example.com@127.0.0.1/",
    "http://127.0.0.1%2f@example.com/",
  ),
  // WHATWG reads a backslash as "/" in http(s) URLs: the host is 127.0.0.1, not example.com.
  ...blocked("parser confusion", "http://127.0.0.1\\@example.com/", "http://0x7f.1\\.example.com/"),
  ...badUrl(
    "unparseable",
    "not a url",
    "//example.com/relative",
    "http://",
    "http://[fe80::1%25eth0]/",
  ),
  ...blocked(
    "loopback",
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/admin",
    "https://127.0.0.1/",
    "http://127.255.255.254/",
    "http://[::1]/",
    "https://[::1]:8443/",
    "http://localhost/",
    "http://LOCALHOST:3000/",
    "http://app.localhost/",
    "http://127.0.0.1./",
  ),
  ...blocked(
    "odd IPv4 spelling",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://0177.1/",
    "http://012.0.0.1/",
    "http://0xa9fea9fe/",
    "http://3232235777/",
  ),
  ...blocked("unspecified", "http://0.0.0.0/", "http://0/", "http://[::]/"),
  ...blocked(
    "private",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
  ),
  ...blocked("link-local", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/"),
  ...blocked("CGNAT", "http://100.64.0.1/", "http://100.127.255.254/"),
  ...blocked("multicast", "http://224.0.0.1/", "http://239.255.255.250:1900/", "http://[ff02::1]/"),
  ...blocked("reserved", "http://255.255.255.255/", "http://240.0.0.1/"),
  ...blocked("IPv6 unique-local", "http://[fc00::1]/", "http://[fd12:3456:789a::1]/"),
  ...blocked(
    "IPv4-mapped IPv6",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::ffff:0:7f00:1]/",
  ),
  ...blocked("IPv4-compatible IPv6", "http://[::127.0.0.1]/", "http://[::10.0.0.1]/"),
  ...blocked(
    "NAT64",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[64:ff9b::c0a8:101]/",
  ),
  ...blocked("6to4", "http://[2002:7f00:1::]/", "http://[2002:a00:1::1]/"),
  ...blocked(
    "internal name",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://intranet/",
    "http://printer.local/",
    "http://router.lan/",
    "http://nas.home.arpa/",
  ),
];
