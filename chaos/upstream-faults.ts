/**
 * A fault injector in front of an upstream emulator, one per channel: each generation
 * request gets, at random, a directive appended to its prompt (a 429 with Retry-After,
 * a 5xx, an answer slower than the channel's timeout, a random delay) and goes on to
 * the emulator, which answers as the real service would (its error bodies, its
 * headers). Faults are per channel and per call, not per prompt, so failover has
 * somewhere to go. Image downloads and anything else pass through untouched.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";

export type UpstreamKind = "ark" | "openai";

export interface FaultRates {
  /** 429 with Retry-After: 1. */
  rateLimited: number;
  /** 500 / 503. */
  serverError: number;
  /** An answer that comes after the channel's timeout. */
  timeout: number;
  /** Longest random extra delay per call (ms). */
  maxDelayMs: number;
}

export interface FaultProxy {
  url: string;
  /** Faults injected so far, by kind. */
  injected: Record<string, number>;
  close(): Promise<void>;
}

function directive(kind: UpstreamKind, fault: string, ms: number): string {
  if (kind === "ark") {
    switch (fault) {
      case "429":
        return "[ark:error=429,RateLimitExceeded,retry-after=1]";
      case "5xx":
        return Math.random() < 0.5
          ? "[ark:error=500,InternalServiceError]"
          : "[ark:error=503,ServerOverloaded]";
      case "timeout":
        return `[ark:hold=${ms}]`;
      default:
        return `[ark:delay=${ms}]`;
    }
  }
  switch (fault) {
    case "429":
      return "[openai:error=429,code=rate_limit_exceeded,type=requests,retry-after=1]";
    case "5xx":
      return "[openai:error=500,code=server_error,type=server_error]";
    default:
      return `[openai:delay=${ms}]`;
  }
}

export async function startFaultProxy(
  kind: UpstreamKind,
  target: string,
  rates: FaultRates,
  /** The channel's timeout: a `timeout` fault answers later than this. */
  timeoutMs: number,
  random: () => number = Math.random,
): Promise<FaultProxy> {
  const injected: Record<string, number> = {};
  const targetUrl = new URL(target);
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let body = Buffer.concat(chunks);
      const isGeneration = req.method === "POST" && /\/images\/generations$/.test(req.url ?? "");
      if (isGeneration) {
        const r = random();
        let fault = "delay";
        if (r < rates.rateLimited) fault = "429";
        else if (r < rates.rateLimited + rates.serverError) fault = "5xx";
        else if (r < rates.rateLimited + rates.serverError + rates.timeout) fault = "timeout";
        injected[fault] = (injected[fault] ?? 0) + 1;
        const ms =
          fault === "timeout" ? timeoutMs + 2000 : Math.floor(random() * (rates.maxDelayMs + 1));
        try {
          const json = JSON.parse(body.toString("utf8")) as { prompt?: unknown };
          if (typeof json.prompt === "string") {
            json.prompt = `${json.prompt} ${directive(kind, fault, ms)}`;
            body = Buffer.from(JSON.stringify(json));
          }
        } catch {
          // not JSON: the emulator answers it as the service would
        }
      }
      const headers = { ...req.headers, host: targetUrl.host };
      if (headers["content-length"] !== undefined) headers["content-length"] = String(body.length);
      const upstream = http.request(
        {
          host: targetUrl.hostname,
          port: targetUrl.port,
          path: req.url,
          method: req.method,
          headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          pipeline(up, res).catch(() => res.destroy());
        },
      );
      upstream.on("error", () => res.destroy());
      // The gateway gave up (its timeout, or its process was killed): so does the emulator.
      res.on("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    })().catch(() => res.destroy());
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 0;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    injected,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
