/**
 * Loopback servers for the safe-fetcher tests: an HTTP server with a route table, a
 * real DNS server (dns2, UDP on 127.0.0.1) answering A records from a map, and a
 * helper to await an OutboundError's reason.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import dns2 from "dns2";
import { expect } from "vitest";
import { OutboundError, type OutboundErrorReason } from "../../src/net/errors.js";

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface TestHttpServer {
  port: number;
  origin: string;
  hits: string[];
  server: http.Server;
  close(): Promise<void>;
}

export async function startHttp(
  routes: Record<string, Route>,
  server: http.Server = http.createServer(),
): Promise<TestHttpServer> {
  const hits: string[] = [];
  server.on("request", (req, res) => {
    hits.push(req.url ?? "");
    const route = routes[(req.url ?? "").split("?")[0]!];
    if (route) route(req, res);
    else {
      res.statusCode = 404;
      res.end("not found");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const scheme = "cert" in server ? "https" : "http";
  return {
    port,
    origin: `${scheme}://127.0.0.1:${port}`,
    hits,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface TestDns {
  server: string;
  queries: string[];
  close(): Promise<void>;
}

/**
 * A real DNS server on 127.0.0.1 answering A records from `records` (name → addresses,
 * or a function called per query, for rebinding games).
 */
export async function startDns(
  records: Record<string, string[] | (() => string[])>,
): Promise<TestDns> {
  const { Packet } = dns2;
  const queries: string[] = [];
  const server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    for (const q of request.questions) {
      queries.push(`${q.name}/${q.type}`);
      if (q.type !== Packet.TYPE.A) continue;
      const answer = records[q.name.toLowerCase()] ?? [];
      for (const address of typeof answer === "function" ? answer() : answer)
        response.answers.push(
          Packet.createResourceFromQuestion(q, { type: Packet.TYPE.A, ttl: 1, address }),
        );
    }
    void send(response);
  });
  await server.listen(0, "127.0.0.1");
  const port = server.address().port;
  return {
    server: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Asserts that `p` rejects with an OutboundError of this reason; returns the error. */
export async function expectReason(
  p: Promise<unknown>,
  reason: OutboundErrorReason,
): Promise<OutboundError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected OutboundError(${reason})`).toBeInstanceOf(OutboundError);
  expect((err as OutboundError).reason).toBe(reason);
  return err as OutboundError;
}
