/**
 * The safe fetcher against hostile URLs, a real DNS server on loopback (names that
 * resolve to private addresses), redirect chains and TLS verification.
 */
import http, { type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSafeClient,
  dnsServerResolve,
  DEFAULT_OUTBOUND_POLICY,
  parseOutboundAllow,
  type Resolve,
} from "../../src/net/safe-request.js";
import { HOSTILE_URLS } from "./hostile-urls.js";
import { expectReason, startDns, startHttp, type TestDns, type TestHttpServer } from "./servers.js";

const noDns: Resolve = () => {
  throw new Error("DNS must not be consulted for this URL");
};

describe("hostile URLs are refused for the stated reason, before any DNS or connection", () => {
  it("covers at least 40 URLs across every category", () => {
    expect(HOSTILE_URLS.length).toBeGreaterThanOrEqual(40);
    const categories = new Set(HOSTILE_URLS.map((h) => h.category));
    for (const c of [
      "scheme",
      "userinfo",
      "loopback",
      "odd IPv4 spelling",
      "unspecified",
      "private",
      "link-local",
      "CGNAT",
      "multicast",
      "IPv6 unique-local",
      "IPv4-mapped IPv6",
      "IPv4-compatible IPv6",
      "NAT64",
    ])
      expect(categories).toContain(c);
  });

  const client = createSafeClient(DEFAULT_OUTBOUND_POLICY, { resolve: noDns });
  it.each(HOSTILE_URLS)("$category: $url → $reason", async ({ url, reason }) => {
    const err = await expectReason(client.request(url, { connectTimeoutMs: 500 }), reason);
    // One sentence, and it does not echo internals (no resolved addresses).
    expect(err.message).toMatch(/^[A-Z].*\.$/);
    expect(err.message).not.toMatch(/\n/);
  });

  it.each(["http://example.com:25/", "https://example.com:22/", "http://example.com:6667/"])(
    "the Fetch standard's bad ports are refused: %s",
    async (url) => {
      const err = await expectReason(client.request(url), "bad_url");
      expect(err.message).toMatch(/port .* is not allowed/);
    },
  );

  it("requireHttps turns every http: URL into bad_url", async () => {
    const c = createSafeClient(DEFAULT_OUTBOUND_POLICY, { resolve: noDns });
    await expectReason(c.request("http://example.com/", { requireHttps: true }), "bad_url");
  });
});

describe("names resolved through a real DNS server on 127.0.0.1", () => {
  let dns: TestDns;
  let web: TestHttpServer;
  let resolve: Resolve;
  let rebindQueries = 0;
  const rebindHits: string[] = [];
  let rebindTarget: http.Server;
  beforeAll(async () => {
    dns = await startDns({
      "evil.test": ["127.0.0.1"],
      "home.test": ["192.168.1.20"],
      "metadata.test": ["169.254.169.254"],
      "mixed.test": ["127.0.0.1", "10.0.0.5"],
      "good.test": ["127.0.0.1"],
      // Answers an allowed address once, then a refused one: a rebinding attempt.
      "rebind.test": () => (rebindQueries++ === 0 ? ["127.0.0.1"] : ["127.0.0.2"]),
    });
    resolve = dnsServerResolve([dns.server]);
    web = await startHttp({
      "/ok": (_req, res) => res.end("hello"),
      "/to-evil": (_req, res) => {
        res.writeHead(302, { location: `http://evil.test:${web.port}/ok` });
        res.end();
      },
      "/to-home": (_req, res) => {
        res.writeHead(302, { location: `http://home.test:${web.port}/ok` });
        res.end();
      },
    });
    // Same port on 127.0.0.2: a request landing here would be a rebinding success.
    rebindTarget = http.createServer((req, res) => {
      rebindHits.push(req.url ?? "");
      res.end("rebound");
    });
    await new Promise<void>((r) => rebindTarget.listen(web.port, "127.0.0.2", r));
  });
  afterAll(async () => {
    await dns.close();
    await web.close();
    await new Promise((r) => rebindTarget.close(r));
  });

  it("DNS rebinding: one resolution per hop, and the connection goes to the address checked", async () => {
    const client = createSafeClient(parseOutboundAllow("127.0.0.1/32"), { resolve });
    rebindQueries = 0;
    const first = await client.request(`http://rebind.test:${web.port}/ok`);
    expect(first.remoteAddress).toBe("127.0.0.1");
    expect(first.body.toString()).toBe("hello");
    expect(rebindQueries).toBe(1); // A only: the resolver asked once for this hop
    // The next resolution answers 127.0.0.2, which the policy refuses: never connected.
    await expectReason(client.request(`http://rebind.test:${web.port}/ok`), "blocked_address");
    expect(rebindHits).toEqual([]);
  });

  it("a name resolving to 127.0.0.1 is refused at connect time (no request reaches it)", async () => {
    const client = createSafeClient(DEFAULT_OUTBOUND_POLICY, { resolve });
    const before = web.hits.length;
    const err = await expectReason(
      client.request(`http://evil.test:${web.port}/ok`),
      "blocked_address",
    );
    expect(err.message).toContain("loopback");
    expect(err.message).not.toContain("127.0.0.1");
    expect(dns.queries).toContain("evil.test/1");
    expect(web.hits.length).toBe(before);
  });

  it("names resolving to private and link-local addresses are refused", async () => {
    const client = createSafeClient(DEFAULT_OUTBOUND_POLICY, { resolve });
    await expectReason(client.request("http://home.test/"), "blocked_address");
    await expectReason(client.request("http://metadata.test/latest/"), "blocked_address");
  });

  it("an unknown name fails with dns_failed, as does a resolver that throws", async () => {
    const client = createSafeClient(DEFAULT_OUTBOUND_POLICY, { resolve });
    await expectReason(client.request("http://nowhere.test/"), "dns_failed");
    const throwing = createSafeClient(DEFAULT_OUTBOUND_POLICY, {
      resolve: () => {
        throw new Error("resolver exploded");
      },
    });
    await expectReason(throwing.request("http://example.com/"), "dns_failed");
    const garbage = createSafeClient(DEFAULT_OUTBOUND_POLICY, {
      resolve: async () => [{ address: "not-an-ip", family: 4 }],
    });
    await expectReason(garbage.request("http://example.com/"), "blocked_address");
  });

  it("an allowed address is fetched through the resolver, and the connected address is reported", async () => {
    const client = createSafeClient(parseOutboundAllow("127.0.0.1/32"), { resolve });
    const res = await client.request(`http://good.test:${web.port}/ok`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("hello");
    expect(res.remoteAddress).toBe("127.0.0.1");
  });

  it("a name with one allowed and one private address is refused (every address is checked)", async () => {
    const client = createSafeClient(parseOutboundAllow("127.0.0.1/32"), { resolve });
    await expectReason(client.request(`http://mixed.test:${web.port}/ok`), "blocked_address");
  });

  it("an allowed host name vouches for its addresses", async () => {
    const client = createSafeClient(parseOutboundAllow("evil.test"), { resolve });
    const res = await client.request(`http://evil.test:${web.port}/ok`);
    expect(res.body.toString()).toBe("hello");
  });

  it("a redirect to a name resolving to 192.168.x is refused", async () => {
    const client = createSafeClient(parseOutboundAllow("127.0.0.1/32"), { resolve });
    await expectReason(client.request(`${web.origin}/to-home`), "blocked_address");
  });
});

describe("redirects", () => {
  let web: TestHttpServer;
  const policy = parseOutboundAllow("127.0.0.1/32");
  beforeAll(async () => {
    const hop = (to: string) => (_req: unknown, res: ServerResponse) => {
      res.writeHead(302, { location: to });
      res.end();
    };
    web = await startHttp({
      "/a": hop("/b"),
      "/b": hop("/c"),
      "/c": hop("/d"),
      "/d": hop("/final"),
      "/final": (req, res) => res.end(`final ${req.method}`),
      "/to-private": hop("http://10.0.0.1/secret"),
      "/to-mapped": hop("http://[::ffff:192.168.0.1]/"),
      "/to-file": hop("file:///etc/passwd"),
      "/to-userinfo": hop("http://u:p@127.0.0.1/"),
      "/no-location": (_req, res) => {
        res.statusCode = 302;
        res.end();
      },
      "/echo": (req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () =>
          res.end(`${req.method} ${body} auth=${req.headers.authorization ?? "-"}`),
        );
      },
      "/307": (_req, res) => {
        res.writeHead(307, { location: "/echo" });
        res.end();
      },
      "/303": (_req, res) => {
        res.writeHead(303, { location: "/echo" });
        res.end();
      },
    });
  });
  afterAll(() => web.close());

  it("follows up to 3 redirects", async () => {
    const res = await createSafeClient(policy).request(`${web.origin}/b`);
    expect(res.body.toString()).toBe("final GET");
    expect(res.redirects).toBe(3);
    expect(res.finalUrl).toBe(`${web.origin}/final`);
  });

  it("refuses a chain of 4 redirects", async () => {
    const before = web.hits.filter((h) => h === "/final").length;
    await expectReason(createSafeClient(policy).request(`${web.origin}/a`), "too_many_redirects");
    expect(web.hits.filter((h) => h === "/final").length).toBe(before);
  });

  it("maxRedirects lowers the limit (0 = no redirect followed)", async () => {
    await expectReason(
      createSafeClient(policy).request(`${web.origin}/d`, { maxRedirects: 0 }),
      "too_many_redirects",
    );
  });

  it("followRedirects false returns the 3xx itself and never fetches its location", async () => {
    const echoes = web.hits.filter((h) => h === "/echo").length;
    const res = await createSafeClient(policy).request(`${web.origin}/307`, {
      method: "POST",
      body: "x",
      followRedirects: false,
    });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe("/echo");
    expect(res.redirects).toBe(0);
    expect(res.finalUrl).toBe(`${web.origin}/307`);
    expect(web.hits.filter((h) => h === "/echo").length).toBe(echoes);
  });

  it("a chain ending in a private address is refused at that hop", async () => {
    await expectReason(
      createSafeClient(policy).request(`${web.origin}/to-private`),
      "blocked_address",
    );
    await expectReason(
      createSafeClient(policy).request(`${web.origin}/to-mapped`),
      "blocked_address",
    );
  });

  it("every hop's scheme and credentials are checked", async () => {
    await expectReason(createSafeClient(policy).request(`${web.origin}/to-file`), "bad_url");
    await expectReason(createSafeClient(policy).request(`${web.origin}/to-userinfo`), "bad_url");
    await expectReason(
      createSafeClient(policy).request(`${web.origin}/no-location`),
      "bad_response",
    );
  });

  it("307 keeps method and body; 303 becomes a GET without body", async () => {
    const c = createSafeClient(policy);
    const kept = await c.request(`${web.origin}/307`, { method: "POST", body: "payload" });
    expect(kept.body.toString()).toBe("POST payload auth=-");
    const changed = await c.request(`${web.origin}/303`, { method: "POST", body: "payload" });
    expect(changed.body.toString()).toBe("GET  auth=-");
  });

  it("returns any final status, or throws http_error when asked", async () => {
    const c = createSafeClient(policy);
    const res = await c.request(`${web.origin}/missing`);
    expect(res.status).toBe(404);
    const err = await expectReason(
      c.request(`${web.origin}/missing`, { throwOnHttpError: true }),
      "http_error",
    );
    expect(err.status).toBe(404);
  });
});

describe("IPv6", () => {
  it("an allowed IPv6 literal is fetched; mapped and NAT64 forms of allowed IPv4 are not widened", async () => {
    const server = http.createServer((_req, res) => res.end("v6"));
    await new Promise<void>((r) => server.listen(0, "::1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const c = createSafeClient(parseOutboundAllow("::1"), { resolve: noDns });
      const res = await c.request(`http://[::1]:${port}/`);
      expect(res.body.toString()).toBe("v6");
      expect(res.remoteAddress).toBe("::1");
      await expectReason(
        createSafeClient(DEFAULT_OUTBOUND_POLICY).request(`http://[::1]:${port}/`),
        "blocked_address",
      );
      // Allowing 127.0.0.1 does not allow its NAT64 spelling (it would be another host).
      await expectReason(
        createSafeClient(parseOutboundAllow("127.0.0.1")).request("http://[64:ff9b::7f00:1]/"),
        "blocked_address",
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("TLS is verified", () => {
  let dns: TestDns;
  let web: TestHttpServer;
  let ca: string;
  beforeAll(async () => {
    const pems = await generate([{ name: "commonName", value: "tls.test" }], {
      keySize: 2048,
      extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "tls.test" }] }],
    });
    ca = pems.cert;
    web = await startHttp(
      { "/ok": (_req, res) => res.end("secure") },
      https.createServer({ key: pems.private, cert: pems.cert }),
    );
    dns = await startDns({ "tls.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
  });
  afterAll(async () => {
    await web.close();
    await dns.close();
  });

  it("an unknown certificate fails with tls_failed", async () => {
    const c = createSafeClient(parseOutboundAllow("127.0.0.1/32"), {
      resolve: dnsServerResolve([dns.server]),
    });
    await expectReason(c.request(`https://tls.test:${web.port}/ok`), "tls_failed");
  });

  it("a trusted certificate for the right name succeeds; the wrong name fails", async () => {
    const c = createSafeClient(parseOutboundAllow("127.0.0.1/32"), {
      resolve: dnsServerResolve([dns.server]),
      ca,
    });
    const res = await c.request(`https://tls.test:${web.port}/ok`, { requireHttps: true });
    expect(res.body.toString()).toBe("secure");
    await expectReason(c.request(`https://other.test:${web.port}/ok`), "tls_failed");
  });
});
