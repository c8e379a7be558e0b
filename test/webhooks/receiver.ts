/**
 * A callback receiver for the webhook tests: a real HTTPS server on 127.0.0.1 whose
 * certificate is issued by a test CA made at test time with the openssl CLI (so the
 * dispatcher must trust an extra CA, as an on-prem operator's would). Each path has its
 * own script of answers, so tests in one file can share a receiver and run in parallel.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export interface TestCa {
  dir: string;
  caFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  remove(): void;
}

/** A CA and a server certificate for 127.0.0.1 / localhost / hooks.test, signed by it. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(path.join(tmpdir(), "darkroom-ca-"));
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=Darkroom Test CA",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    f("leaf.key"),
    "-out",
    f("leaf.csr"),
  );
  writeFileSync(
    f("leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:hooks.test\nextendedKeyUsage=serverAuth\n",
  );
  ssl(
    "x509",
    "-req",
    "-in",
    f("leaf.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    f("leaf.ext"),
    "-out",
    f("leaf.pem"),
  );
  return {
    dir,
    caFile: f("ca.pem"),
    caPem: readFileSync(f("ca.pem"), "utf8"),
    certPem: readFileSync(f("leaf.pem"), "utf8"),
    keyPem: readFileSync(f("leaf.key"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Arrival {
  at: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A status to answer with, "hang" (never answer), or a redirect to a location. */
export type Answer = number | "hang" | { redirect: string; status?: number };

export interface Receiver {
  origin: string;
  port: number;
  /** Answers for a path, in order; the last one repeats. Default: 200. */
  script(pathname: string, answers: Answer[]): void;
  arrivals(pathname: string): Arrival[];
  /** Resolves once `count` requests have reached the path (bounded by the deadline). */
  waitFor(pathname: string, count: number, timeoutMs?: number): Promise<Arrival[]>;
  close(): Promise<void>;
}

export async function startReceiver(ca: TestCa): Promise<Receiver> {
  const scripts = new Map<string, Answer[]>();
  const seen = new Map<string, Arrival[]>();
  const waiters = new Set<() => void>();
  const server = https.createServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const pathname = (req.url ?? "/").split("?")[0]!;
      const list = seen.get(pathname) ?? [];
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      list.push({
        at: Date.now(),
        path: pathname,
        headers,
        body: Buffer.concat(chunks).toString(),
      });
      seen.set(pathname, list);
      for (const w of waiters) w();
      const script = scripts.get(pathname) ?? [200];
      const answer = script[Math.min(list.length - 1, script.length - 1)]!;
      if (answer === "hang") return; // keep the socket open, answer nothing
      if (typeof answer === "object") {
        res.writeHead(answer.status ?? 302, { location: answer.redirect });
        res.end();
        return;
      }
      res.writeHead(answer, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    script: (p, answers) => void scripts.set(p, answers),
    arrivals: (p) => [...(seen.get(p) ?? [])],
    waitFor(p, count, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const list = seen.get(p) ?? [];
          if (list.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve([...list]);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${p}: ${seen.get(p)?.length ?? 0} of ${count} requests arrived`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Polls `fn` until it returns a non-undefined value or the deadline passes. */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
