/**
 * Every answer of an event-loop turn written together at its end, whichever handler
 * wrote it: the server's responses are of a ServerResponse subclass (node's
 * `createServer({ ServerResponse })` extension point) whose `end()` is queued and run
 * in one pass when the turn ends, or at once when `maxBatch` answers are waiting.
 *
 * Why: writing to a socket whose reader is asleep wakes the reader, and on loopback (a
 * reverse proxy or sidecar on the same host, the benchmark's load generator) the kernel
 * does that delivery and wake-up inside our write call. Answers written one at a time,
 * between the requests of a busy turn, wake the peer again and again: on this project's
 * VM the write came to cost more than everything else a poll does (BENCHMARKS.md).
 * Written back to back, a turn's answers share one wake-up. Redis writes its replies
 * the same way, just before it waits for the next events. Socket corking cannot do
 * this: node fully uncorks a response's socket in `end()`.
 *
 * What it costs: an answer waits for the rest of its turn's requests to be decided, and
 * never for more than `maxBatch - 1` of them. An idle server's turn holds one request,
 * so its answer goes out in the same turn as before. Nothing is written before `end()`
 * runs (node writes a response's head with its first body bytes), so a queued
 * response is all-or-nothing on the wire, like any other.
 */
import { ServerResponse, type IncomingMessage } from "node:http";

/** A batch this size is written at once (64: about 1 ms of work at most). */
export const DEFAULT_MAX_BATCH = 64;

export type End = (this: ServerResponse, ...args: unknown[]) => ServerResponse;
const nodeEnd = ServerResponse.prototype.end as unknown as End;

export class TurnBatch {
  private queue: Array<{ res: ServerResponse; args: unknown[] }> = [];
  private scheduled = false;
  /** The server is closing: answers end their connections (endConnections). */
  private closing = false;
  private readonly endOfTurn = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    /** Called when ending one response threw; the others are still ended. */
    private readonly onError: (err: unknown) => void,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
    /** How a queued response is really ended (node's own end(); tests record instead). */
    private readonly endNow: End = nodeEnd,
  ) {}

  /**
   * Makes sure this turn ends with a flush. The edge calls it as each request arrives,
   * so the flush is queued ahead of what handling the request schedules for the end of
   * the turn (the poll snapshot's COMMIT): an idle server's answer does not wait on it.
   */
  arm(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.endOfTurn);
  }

  enqueue(res: ServerResponse, args: unknown[]): void {
    this.queue.push({ res, args });
    if (this.queue.length >= this.maxBatch) this.flush();
    else this.arm();
  }

  /** Ends every queued response, in the order their handlers ended them. */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    for (const { res, args } of batch) {
      try {
        this.endNow.apply(res, args);
      } catch (err) {
        // Nothing sane is left to send on this response: close it, so the client is not
        // left waiting, and let the rest of the batch go out.
        res.destroy();
        this.onError(err);
      }
    }
  }

  /**
   * From now on every answer whose head is not yet written says `Connection: close` and
   * ends its connection (the server is closing). Every head goes through writeHead,
   * node's implicit one too, so that is the one place to look.
   */
  endConnections(): void {
    this.closing = true;
  }

  /** The response class for `createServer({ ServerResponse })`, ending through this batch. */
  responseClass(): typeof ServerResponse {
    const enqueue = (res: ServerResponse, args: unknown[]) => this.enqueue(res, args);
    const closing = () => this.closing;
    const QUEUED = Symbol("darkroom.endQueued");
    const Response = class TurnBatchedResponse<
      Request extends IncomingMessage = IncomingMessage,
    > extends ServerResponse<Request> {
      private [QUEUED] = false;
      // The overloads of end() all come through here: (cb?), (chunk, cb?), (chunk, enc, cb?).
      override end(...args: unknown[]): this {
        // A response is answered once: a second end() while the first waits is dropped.
        if (this[QUEUED]) return this;
        // After the socket went, node's own end() does what it always does.
        if (this.writableEnded || this.destroyed) return nodeEnd.apply(this, args) as this;
        this[QUEUED] = true;
        enqueue(this, args);
        return this;
      }
    } as unknown as typeof ServerResponse;
    // Assigned, not overridden: writeHead's overloads do not survive a rest-args override.
    const writeHead = ServerResponse.prototype.writeHead as (...a: unknown[]) => ServerResponse;
    Response.prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      if (closing()) this.shouldKeepAlive = false;
      return writeHead.apply(this, args);
    } as ServerResponse["writeHead"];
    return Response;
  }
}
