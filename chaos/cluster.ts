/**
 * The processes of a chaos run: real `darkroom serve` processes (API and workers) on
 * one PostgreSQL schema and one data dir, each started, SIGKILLed and restarted by the
 * run. Each process's output goes to a log file of its own in the run's folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** How a process is started: the built CLI (`bin/darkroom.js`) or the sources through tsx. */
export interface ServeCommand {
  args: string[];
}

export function builtServer(root: string): ServeCommand {
  return { args: [path.join(root, "bin/darkroom.js"), "serve"] };
}

export function sourceServer(root: string): ServeCommand {
  return { args: ["--import", "tsx", path.join(root, "src/cli/main.ts"), "serve"] };
}

export type Role = "api" | "worker";

/** One named process slot (`api-1`, `worker-2`): the process in it changes with each restart. */
export class Proc {
  child: ChildProcess | null = null;
  exited: Promise<number | null> = Promise.resolve(null);
  /** How many times this slot's process was started. */
  starts = 0;
  readonly url: string;

  constructor(
    readonly name: string,
    readonly role: Role,
    readonly port: number,
    private readonly command: ServeCommand,
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the process and resolves once it answers /readyz (or rejects when it exits first). */
  async start(timeoutMs = 60_000): Promise<void> {
    this.starts++;
    const log = createWriteStream(path.join(this.logDir, `${this.name}.log`), { flags: "a" });
    log.write(`\n--- start ${this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [...this.command.args, "--role", this.role], {
      env: { ...process.env, ...this.env, HOST: "127.0.0.1", PORT: String(this.port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        log.end(`--- exit ${code ?? signal} at ${new Date().toISOString()}\n`);
        if (this.child === child) this.child = null;
        resolve(code);
      }),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child !== child) throw new Error(`${this.name} exited while starting`);
      try {
        const r = await fetch(`${this.url}/readyz`);
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not get ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL, and wait until it is gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM (a graceful drain), and wait until it is gone. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    child.kill("SIGTERM");
    return this.exited;
  }
}
