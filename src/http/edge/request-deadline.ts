/**
 * Every request must arrive whole in time and at a minimum rate, or it is answered 408
 * and its connection closed.
 *
 * Why: a body trickled one byte every 3 s held a connection (and a parser, and a
 * handler waiting on the body) open for minutes. Node bounds the header phase itself
 * (`headersTimeout`, answered by the client-error handler); this bounds what follows,
 * the body: in total time, and in rate once a short grace has passed, so a slow but
 * honest upload still goes through and a trickle is cut within seconds.
 *
 * One timer checks every tracked request (those still receiving a body) once per
 * `checkEveryMs`; a request with no body is complete when it is dispatched and is never
 * tracked, so polls cost nothing here.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";

export interface DeadlineOptions {
  /** The whole request (from dispatch to its last body byte) must arrive within this. */
  requestTimeoutMs: number;
  /** After `graceMs`, the body must have come at this many bytes per second on average. */
  minBytesPerSecond: number;
  graceMs: number;
  checkEveryMs: number;
}

interface Tracked {
  req: IncomingMessage;
  startedAt: number;
  bytesAtStart: number;
  onLate: (why: "timeout" | "too_slow") => void;
}

export class RequestDeadlines {
  private readonly tracked = new Map<Socket, Tracked>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: DeadlineOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `req` still has body bytes to receive. */
  static expectsBody(req: IncomingMessage): boolean {
    if (req.complete) return false;
    const length = req.headers["content-length"];
    return length !== undefined ? length !== "0" : req.headers["transfer-encoding"] !== undefined;
  }

  /**
   * Watches `req` until its body has arrived or its socket closes. Entries are kept by
   * connection: a connection carries one request at a time, so a new request replaces
   * its predecessor's entry. Keeping every request until the next check instead held
   * thousands of finished requests past their life, into the old generation of the
   * heap: ~10–25 µs of CPU per submission, in garbage collection. No listener is added
   * (one per request on a keep-alive socket would pile up); the next check drops an
   * entry whose request completed or whose socket closed.
   */
  track(req: IncomingMessage, onLate: Tracked["onLate"]): void {
    this.tracked.set(req.socket, {
      req,
      startedAt: this.now(),
      bytesAtStart: req.socket.bytesRead,
      onLate,
    });
    this.timer ??= setInterval(() => this.check(), this.options.checkEveryMs).unref();
  }

  get size(): number {
    return this.tracked.size;
  }

  /** One pass over the tracked requests (the timer's work; tests call it directly). */
  check(): void {
    const now = this.now();
    for (const [socket, entry] of this.tracked) {
      if (entry.req.complete || socket.destroyed) {
        this.tracked.delete(socket);
        continue;
      }
      const elapsed = now - entry.startedAt;
      const received = entry.req.socket.bytesRead - entry.bytesAtStart;
      const why =
        elapsed > this.options.requestTimeoutMs
          ? "timeout"
          : elapsed > this.options.graceMs &&
              received < (this.options.minBytesPerSecond * elapsed) / 1000
            ? "too_slow"
            : null;
      if (why) {
        this.tracked.delete(socket);
        entry.onLate(why);
      }
    }
    if (this.tracked.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tracked.clear();
  }
}
