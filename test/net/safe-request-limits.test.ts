/**
 * The safe fetcher's limits: byte cap on a 2 GiB stream without memory growth,
 * Content-Length refused early, connect and total timeouts, caller aborts, and no
 * proxy environment leaking in.
 */
import net from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSafeClient, parseOutboundAllow } from "../../src/net/safe-request.js";
import { expectReason, startHttp, type TestHttpServer } from "./servers.js";

const policy = parseOutboundAllow("127.0.0.1/32");
const GiB = 1024 ** 3;

/** 2 GiB of zeros produced lazily (one shared 64 KiB chunk), honouring backpressure. */
function zeros(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

describe("size limits", () => {
  let web: TestHttpServer;
  let streamedBytes = 0;
  beforeAll(async () => {
    web = await startHttp({
      "/huge-chunked": (_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const body = zeros(2 * GiB);
        body.on("data", (c: Buffer) => (streamedBytes += c.length));
        body.pipe(res);
        res.on("close", () => body.destroy());
      },
      "/huge-announced": (_req, res) => {
        res.writeHead(200, { "content-length": String(2 * GiB) });
        const body = zeros(2 * GiB);
        body.pipe(res);
        res.on("close", () => body.destroy());
      },
      "/exact": (_req, res) => res.end(Buffer.alloc(1000, 7)),
    });
  });
  afterAll(() => web.close());

  it("a 2 GiB streamed body is cut at the cap quickly, without memory growth", async () => {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const err = await expectReason(
      createSafeClient(policy).request(`${web.origin}/huge-chunked`, { maxBytes: 10 * 1024 ** 2 }),
      "too_large",
    );
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(err.message).toBe("The response is larger than 10 MB.");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(peak - rss0).toBeLessThan(100 * 1024 ** 2);
    // The server stopped far short of 2 GiB (the socket was closed on it).
    await new Promise((r) => setTimeout(r, 50));
    expect(streamedBytes).toBeGreaterThan(10 * 1024 ** 2);
    expect(streamedBytes).toBeLessThan(200 * 1024 ** 2);
  });

  it("a Content-Length over the cap is refused before reading the body", async () => {
    const t0 = Date.now();
    await expectReason(
      createSafeClient(policy).request(`${web.origin}/huge-announced`, { maxBytes: 1024 }),
      "too_large",
    );
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("a body exactly at the cap passes; one byte under the size fails", async () => {
    const c = createSafeClient(policy);
    const res = await c.request(`${web.origin}/exact`, { maxBytes: 1000 });
    expect(res.body.length).toBe(1000);
    await expectReason(c.request(`${web.origin}/exact`, { maxBytes: 999 }), "too_large");
  });
});

describe("timeouts and aborts", () => {
  let silent: net.Server;
  let silentPort = 0;
  const sockets = new Set<net.Socket>();
  let web: TestHttpServer;
  beforeAll(async () => {
    // Accepts connections and never answers.
    silent = net.createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    silentPort = (silent.address() as net.AddressInfo).port;
    web = await startHttp({
      "/slow-body": (_req, res) => {
        res.writeHead(200);
        res.write("start");
      },
    });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    await web.close();
  });

  it("a server that accepts but never answers times out within the bound", async () => {
    const t0 = Date.now();
    const err = await expectReason(
      createSafeClient(policy).request(`http://127.0.0.1:${silentPort}/`, { timeoutMs: 300 }),
      "timeout",
    );
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    expect(err.message).toMatch(/too long/);
  });

  it("a body that stalls mid-way times out too", async () => {
    await expectReason(
      createSafeClient(policy).request(`${web.origin}/slow-body`, { timeoutMs: 300 }),
      "timeout",
    );
  });

  it("a resolver that never answers hits the connect timeout", async () => {
    const c = createSafeClient(parseOutboundAllow("stuck.test"), {
      resolve: () => new Promise(() => {}),
    });
    const t0 = Date.now();
    const err = await expectReason(
      c.request("http://stuck.test/", { connectTimeoutMs: 200, timeoutMs: 10_000 }),
      "timeout",
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err.message).toMatch(/connection/);
  });

  it("the caller's signal aborts the request", async () => {
    const ac = new AbortController();
    const p = createSafeClient(policy).request(`http://127.0.0.1:${silentPort}/`, {
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await expectReason(p, "aborted");
  });

  it("a refused connection is connect_failed", async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expectReason(
      createSafeClient(policy).request(`http://127.0.0.1:${port}/`),
      "connect_failed",
    );
  });
});

describe("no ambient configuration leaks into requests", () => {
  let proxy: TestHttpServer;
  let target: TestHttpServer;
  const saved: Record<string, string | undefined> = {};
  const VARS = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "NODE_USE_ENV_PROXY",
  ];
  beforeAll(async () => {
    proxy = await startHttp({});
    proxy.server.on("connect", (_req, socket: net.Socket) => {
      proxy.hits.push("CONNECT");
      socket.destroy();
    });
    target = await startHttp({
      "/headers": (req, res) => res.end(JSON.stringify(req.headers)),
    });
    for (const v of VARS) saved[v] = process.env[v];
    for (const v of VARS.slice(0, 5)) process.env[v] = proxy.origin;
    process.env.NODE_USE_ENV_PROXY = "1";
  });
  afterAll(async () => {
    for (const v of VARS) {
      if (saved[v] === undefined) delete process.env[v];
      else process.env[v] = saved[v];
    }
    await proxy.close();
    await target.close();
  });

  it("proxy environment variables are ignored", async () => {
    const res = await createSafeClient(policy).request(`${target.origin}/headers`);
    expect(res.status).toBe(200);
    expect(proxy.hits).toEqual([]);
    expect(target.hits).toContain("/headers");
  });

  it("sends no cookies or credentials of its own, and asks for no compression", async () => {
    const res = await createSafeClient(policy).request(`${target.origin}/headers`);
    const headers = JSON.parse(res.body.toString()) as Record<string, string>;
    expect(headers.cookie).toBeUndefined();
    expect(headers.authorization).toBeUndefined();
    expect(headers["accept-encoding"]).toBe("identity");
    expect(headers.host).toBe(`127.0.0.1:${target.port}`);
  });
});
