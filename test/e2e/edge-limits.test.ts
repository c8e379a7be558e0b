/**
 * The edge holds against a client that hoards connections or trickles its request:
 * connections are capped per address and in total, and are refused early with a JSON
 * answer, while other addresses keep being served; a request that does not arrive in
 * time or fast enough is cut with 408 JSON.
 */
import { connect, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defaultConnectionLimits } from "../../src/http/edge/connection-limits.js";
import { request, startTestServer, type TestServer } from "../helpers/server.js";

const open: Socket[] = [];

/** A TCP connection from `localAddress`, once connected. */
function dial(s: TestServer, localAddress: string): Promise<Socket> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), localAddress }, () =>
      resolve(socket),
    );
    socket.on("error", reject);
    open.push(socket);
  });
}

/** Everything the server sends on `socket` until it closes it. */
function readToClose(socket: Socket): Promise<string> {
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (c: string) => (text += c));
  return new Promise((resolve) => socket.on("close", () => resolve(text)));
}

/** A raw HTTP/1.1 request's answer on a fresh connection from `localAddress`. */
async function get(s: TestServer, localAddress: string, path = "/healthz"): Promise<string> {
  const socket = await dial(s, localAddress);
  const answer = readToClose(socket);
  socket.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return answer;
}

/** A submission's request line and headers, announcing a body of `length` bytes. */
function submissionHead(s: TestServer, length: number): string {
  return (
    `POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.apiKey}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`
  );
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

function jsonOf(raw: string): { error: { code: string; type: string; message: string } } {
  return JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4));
}

afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

describe("connection caps", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      DARKROOM_RUNNER: "false",
      DARKROOM_MAX_CONNECTIONS: "30",
      DARKROOM_MAX_CONNECTIONS_PER_ADDRESS: "10",
    });
  });
  afterAll(() => s.stop());

  const settle = (n: number) => expect.poll(() => s.dr.edge.connections.openConnections).toBe(n);

  it("refuses an address over its cap with 429 JSON at once; another address is served", async () => {
    for (let i = 0; i < 10; i++) await dial(s, "127.0.0.1");
    await settle(10);
    const refused = await get(s, "127.0.0.1");
    expect(statusOf(refused)).toBe(429);
    expect(refused).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(jsonOf(refused).error).toMatchObject({
      code: "rate_limit_exceeded",
      type: "rate_limit_error",
    });
    expect(s.dr.edge.connections.refused.perAddress).toBe(1);
    // A second loopback address is another client.
    expect(statusOf(await get(s, "127.0.0.2"))).toBe(200);
    // Its hoarded connections closed, the first address is served again.
    for (const c of open.splice(0)) c.destroy();
    await settle(0);
    expect(statusOf(await get(s, "127.0.0.1"))).toBe(200);
  });

  it("refuses everyone over the total with 503 JSON, and serves again once connections close", async () => {
    for (const address of ["127.0.0.3", "127.0.0.4", "127.0.0.5"]) {
      for (let i = 0; i < 10; i++) await dial(s, address);
    }
    await settle(30);
    const refused = await get(s, "127.0.0.6");
    expect(statusOf(refused)).toBe(503);
    expect(jsonOf(refused).error).toMatchObject({ code: "service_unavailable", type: "api_error" });
    for (const c of open.splice(0)) c.destroy();
    await settle(0);
    expect(statusOf(await get(s, "127.0.0.6"))).toBe(200);
  });

  it("a refused connection's request is never handled", async () => {
    for (let i = 0; i < 10; i++) await dial(s, "127.0.0.7");
    await settle(10);
    const before = (await s.api("/v1/tasks")).json.total as number;
    const socket = await dial(s, "127.0.0.7");
    const answer = readToClose(socket);
    const body = JSON.stringify({ model: "doubao-seedream-4.0", prompt: "refused" });
    socket.end(submissionHead(s, body.length) + body);
    expect(statusOf(await answer)).toBe(429);
    expect((await s.api("/v1/tasks")).json.total).toBe(before);
  });

  it("defaults: the total stays below the file-handle limit with room for the rest of the process", () => {
    expect(defaultConnectionLimits(20_000, false)).toEqual({ total: 15_000, perAddress: 1875 });
    expect(defaultConnectionLimits(1024, false)).toEqual({ total: 512, perAddress: 64 });
    // Behind a proxy every client has the proxy's address.
    expect(defaultConnectionLimits(1024, true)).toEqual({ total: 512, perAddress: 512 });
  });
});

describe("slow requests", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false", DARKROOM_HEADERS_TIMEOUT_MS: "1000" });
  });
  afterAll(() => s.stop());

  it("headers that do not arrive in time: 408 JSON, connection closed", async () => {
    const socket = await dial(s, "127.0.0.1");
    const answer = readToClose(socket);
    socket.write("GET /v1/credits HTTP/1.1\r\nHost: x\r\n");
    const raw = await answer;
    expect(statusOf(raw)).toBe(408);
    expect(jsonOf(raw).error).toMatchObject({ code: "invalid_request" });
  });

  it("a body trickled a byte at a time is cut with 408 JSON after the grace; nothing is stored", async () => {
    const before = (await s.api("/v1/tasks")).json.total as number;
    const socket = await dial(s, "127.0.0.1");
    const answer = readToClose(socket);
    const body = JSON.stringify({ model: "doubao-seedream-4.0", prompt: "trickle" });
    socket.write(submissionHead(s, body.length));
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < body.length) socket.write(body[sent++]!);
    }, 500);
    try {
      const raw = await answer;
      expect(statusOf(raw)).toBe(408);
      expect(jsonOf(raw).error).toMatchObject({
        code: "invalid_request",
        message: "The request body arrived too slowly.",
      });
      expect(sent).toBeLessThan(body.length);
    } finally {
      clearInterval(trickle);
    }
    expect((await s.api("/v1/tasks")).json.total).toBe(before);
    // The server serves on.
    expect((await request(`${s.url}/healthz`)).status).toBe(200);
  });
});
