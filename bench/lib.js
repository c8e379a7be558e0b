// Pieces both benchmarks use: a free loopback port, waiting for a server, and
// autocannon as a promise.
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import autocannon from "autocannon";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers 2xx; throws after 30 s. */
export async function waitUp(url) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

export function cannon(opts) {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** autocannon in a child process of its own (see cannon-child.js). */
export function cannonFresh(opts) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [new URL("./cannon-child.js", import.meta.url).pathname],
      { env: { ...process.env, CANNON_OPTS: JSON.stringify(opts) }, maxBuffer: 64 * 2 ** 20 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    );
  });
}
