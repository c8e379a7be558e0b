/**
 * One hop of the safe fetcher (see safe-request.ts for the guarantees): a fresh socket
 * whose `lookup` checks every resolved address, a re-check of the connected address
 * before a byte is written, the connect timeout, and the capped body read.
 */
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import net, { isIP } from "node:net";
import tls from "node:tls";
import { OutboundError } from "./errors.js";
import { addressVerdict, type OutboundPolicy } from "./policy.js";
import type { Resolve, ResolvedAddress } from "./resolve.js";

/**
 * A socket `lookup` that resolves with the injected resolver, refuses the name if any
 * address is refused, and hands net.connect exactly the addresses it checked.
 */
function guardedLookup(policy: OutboundPolicy, resolve: Resolve): net.LookupFunction {
  return (hostname, options, callback) => {
    const cb = callback as (
      err: Error | null,
      address: string | ResolvedAddress[],
      family?: number,
    ) => void;
    // Deferred so that a resolver throwing synchronously still reports through cb.
    Promise.resolve()
      .then(() => resolve(hostname))
      .then(
        (found) => {
          if (found.length === 0)
            return cb(new OutboundError("dns_failed", "the URL's host name does not resolve"), "");
          for (const a of found) {
            const why = addressVerdict(policy, hostname, a.address);
            if (why !== null)
              return cb(
                new OutboundError(
                  "blocked_address",
                  `the URL's host resolves to an address that is not allowed (${why})`,
                  `${hostname} → ${a.address}`,
                ),
                "",
              );
          }
          const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
          const usable = wanted ? found.filter((a) => a.family === wanted) : found;
          if (usable.length === 0)
            return cb(new OutboundError("dns_failed", "the URL's host name does not resolve"), "");
          if (options.all) return cb(null, usable);
          return cb(null, usable[0]!.address, usable[0]!.family);
        },
        (err: NodeJS.ErrnoException) =>
          cb(new OutboundError("dns_failed", "the URL's host name does not resolve", err.code), ""),
      );
  };
}

function connectError(err: unknown): OutboundError {
  if (err instanceof OutboundError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? "";
  if (
    /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/.test(code) ||
    /certificate|ssl|tls/i.test(e?.message ?? "")
  )
    return new OutboundError(
      "tls_failed",
      "the server's TLS certificate could not be verified",
      code,
    );
  if (code === "ENOTFOUND" || code === "EAI_AGAIN")
    return new OutboundError("dns_failed", "the URL's host name does not resolve", code);
  if (code === "ECONNRESET" || code === "EPIPE")
    return new OutboundError("bad_response", "the server closed the connection", code);
  if (code === "HPE_HEADER_OVERFLOW" || code.startsWith("HPE_"))
    return new OutboundError("bad_response", "the server sent a malformed response", code);
  return new OutboundError("connect_failed", "the server could not be reached", code);
}

export interface Hop {
  res: IncomingMessage;
  remoteAddress: string;
}

export function oneHop(
  policy: OutboundPolicy,
  resolve: Resolve,
  ca: string | Buffer | Array<string | Buffer> | undefined,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | string | undefined,
  o: { signal: AbortSignal; connectTimeoutMs: number },
): Promise<Hop> {
  return new Promise<Hop>((resolvePromise, reject) => {
    if (o.signal.aborted) return reject(o.signal.reason);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const isHttps = url.protocol === "https:";
    const port = Number(url.port) || (isHttps ? 443 : 80);
    const lookup = guardedLookup(policy, resolve);
    let remoteAddress = "";
    let connected = false;

    const createConnection = (): net.Socket => {
      const socket = isHttps
        ? tls.connect({
            host,
            port,
            lookup,
            servername: isIP(host) ? undefined : host,
            rejectUnauthorized: true,
            ALPNProtocols: ["http/1.1"],
            // Extra CAs are added to the default roots, not substituted for them.
            ...(ca ? { ca: [...tls.rootCertificates, ...(Array.isArray(ca) ? ca : [ca])] } : {}),
          })
        : net.connect({ host, port, lookup });
      // Registered before http's own listeners: runs before the request is written.
      socket.once("connect", () => {
        remoteAddress = socket.remoteAddress ?? "";
        const why = addressVerdict(policy, isIP(host) ? null : host, remoteAddress);
        if (why !== null)
          socket.destroy(
            new OutboundError(
              "blocked_address",
              `the URL's host resolves to an address that is not allowed (${why})`,
              `${host} → ${remoteAddress}`,
            ),
          );
      });
      socket.once(isHttps ? "secureConnect" : "connect", () => {
        connected = true;
        clearTimeout(connectTimer);
      });
      return socket;
    };

    const finalHeaders: Record<string, string> = {
      "user-agent": "Darkroom",
      accept: "*/*",
      ...headers,
      "accept-encoding": "identity",
      connection: "close",
    };
    if (body !== undefined) finalHeaders["content-length"] = String(Buffer.byteLength(body));

    const mod = isHttps ? https : http;
    const req = mod.request({
      method,
      host,
      port,
      path: `${url.pathname}${url.search}`,
      headers: finalHeaders,
      // No agent at all (not even a private one): our createConnection is then used
      // directly, so the socket is ours from lookup to 'connect'.
      createConnection,
      insecureHTTPParser: false,
    });
    const connectTimer = setTimeout(() => {
      if (!connected)
        req.destroy(
          new OutboundError("timeout", "the server did not accept the connection in time"),
        );
    }, o.connectTimeoutMs);
    const onAbort = () => req.destroy(o.signal.reason as Error);
    o.signal.addEventListener("abort", onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(connectTimer);
      o.signal.removeEventListener("abort", onAbort);
    };

    req.once("response", (res) => {
      cleanup();
      // Abort mid-body is handled by readCapped, which listens to the same signal.
      resolvePromise({ res, remoteAddress });
    });
    // `on`, not `once`: a socket may emit a second error after the first (no crash).
    req.on("error", (err) => {
      cleanup();
      reject(o.signal.aborted ? o.signal.reason : connectError(err));
    });
    req.end(body);
  });
}

export function readCapped(
  res: IncomingMessage,
  maxBytes: number,
  signal: AbortSignal,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const tooLarge = () =>
      new OutboundError("too_large", `the response is larger than ${formatBytes(maxBytes)}`);
    const announced = Number(res.headers["content-length"]);
    if (Number.isFinite(announced) && announced > maxBytes) {
      res.destroy();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const settle = (err: unknown, value?: Buffer) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      if (err) {
        res.destroy();
        reject(err);
      } else resolve(value!);
    };
    const onAbort = () => settle(signal.reason);
    if (signal.aborted) return settle(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return settle(tooLarge());
      chunks.push(chunk);
    });
    res.once("end", () => {
      if (!res.complete)
        return settle(new OutboundError("bad_response", "the server cut the response short"));
      settle(null, Buffer.concat(chunks, size));
    });
    res.on("error", (err) => settle(connectError(err)));
    res.once("close", () =>
      settle(new OutboundError("bad_response", "the server cut the response short")),
    );
    res.once("aborted", () =>
      settle(new OutboundError("bad_response", "the server cut the response short")),
    );
  });
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} bytes`;
}
