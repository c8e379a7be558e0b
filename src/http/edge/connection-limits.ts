/**
 * Caps on open connections, per client address and in total, checked when a connection
 * is accepted, before node's HTTP parser sees a byte of it.
 *
 * Why: every connection holds a file handle. Without a cap, one address opening ~20,000
 * idle connections used up the process's handles: other clients got empty replies and a
 * running task failed with EMFILE (the runner, storage and the database need handles
 * too). The total cap sits below the handle limit with room kept for them; the
 * per-address cap keeps one client from taking the whole total.
 *
 * Over a cap the connection gets one canned answer (429 for its address, 503 for the
 * total) and is closed: no parser, no request object, no log line per refusal (a flood
 * would turn the log into the attack's amplifier; refusals are counted instead).
 */
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { ApiError } from "../../core/errors.js";
import { rawErrorResponse } from "./raw-answer.js";

export interface ConnectionLimitOptions {
  /** Open connections in total. */
  total: number;
  /** Open connections from one client address (the socket's peer, not X-Forwarded-For). */
  perAddress: number;
}

const REFUSED = Symbol("darkroom.refusedConnection");

type Marked = Socket & { [REFUSED]?: true };

/** Whether the edge refused this connection at accept (its requests are dropped unread). */
export function isRefused(socket: Socket): boolean {
  return (socket as Marked)[REFUSED] === true;
}

export class ConnectionLimits {
  private open = 0;
  private readonly byAddress = new Map<string, number>();
  /** Connections refused since start, by reason (for /admin status and tests). */
  readonly refused = { perAddress: 0, total: 0 };
  private readonly answers = {
    perAddress: rawErrorResponse(
      new ApiError("rate_limit_exceeded", "Too many open connections from this address.", {
        headers: { "retry-after": "1" },
      }),
      "connection-refused",
    ),
    total: rawErrorResponse(
      new ApiError("service_unavailable", "The server has too many open connections.", {
        headers: { "retry-after": "1" },
      }),
      "connection-refused",
    ),
  };

  constructor(readonly options: ConnectionLimitOptions) {}

  get openConnections(): number {
    return this.open;
  }

  /** Starts counting `server`'s connections; runs ahead of node's own connection listener. */
  attach(server: Server): void {
    server.prependListener("connection", (socket: Socket) => this.admit(socket));
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? "";
    const fromAddress = this.byAddress.get(address) ?? 0;
    const over =
      this.open >= this.options.total
        ? "total"
        : fromAddress >= this.options.perAddress
          ? "perAddress"
          : null;
    if (over) {
      (socket as Marked)[REFUSED] = true;
      this.refused[over]++;
      socket.on("error", () => {});
      socket.write(this.answers[over]);
      socket.destroy();
      return;
    }
    this.open++;
    this.byAddress.set(address, fromAddress + 1);
    socket.once("close", () => {
      this.open--;
      const n = (this.byAddress.get(address) ?? 1) - 1;
      if (n === 0) this.byAddress.delete(address);
      else this.byAddress.set(address, n);
    });
  }
}

/** The process's soft limit on open files (RLIMIT_NOFILE), or null where it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (!m || m[1] === "unlimited") return null;
    return Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Default caps: the total leaves a quarter of the file handles (at least 512) to the
 * runner, storage, the database and upstream calls; one address may hold an eighth of
 * the total. Behind a trusted proxy every client shares the proxy's address, so the
 * per-address cap defaults to the total there.
 */
export function defaultConnectionLimits(
  fileLimit: number | null,
  behindProxy: boolean,
): ConnectionLimitOptions {
  const handles = fileLimit ?? 16_384;
  const total = Math.max(64, handles - Math.max(512, Math.floor(handles / 4)));
  return { total, perAddress: behindProxy ? total : Math.max(32, Math.floor(total / 8)) };
}
