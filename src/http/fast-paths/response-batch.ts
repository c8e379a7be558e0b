/**
 * The fast paths' answers, written together at the end of the event-loop turn rather
 * than one at a time as each is decided.
 *
 * Why: writing to a socket whose reader is asleep wakes the reader, and on loopback (a
 * reverse proxy or sidecar on the same host, or the benchmark's load generator) the
 * kernel does that delivery and wake-up inside our write call. Answers written as they
 * are decided, between the requests of a busy turn, wake the peer again and again:
 * on this project's VM the write came to cost more than everything else a poll does,
 * and about 50% more per answer than for a bare node:http server, which is faster and
 * so finds its peer awake (BENCHMARKS.md). Written back to back, a turn's answers share
 * one wake-up. Redis writes its replies the same way, all of them just before it waits
 * for the next events.
 *
 * What it costs: an answer waits for the rest of its turn's requests to be decided, and
 * never for more than `maxBatch - 1` of them: a full batch is written at once. An idle
 * server's turn holds one request, so its answer goes out as before, in the same turn.
 */
import type { ServerResponse } from "node:http";

const QUEUED = Symbol("darkroom.answerQueued");

type Marked = ServerResponse & { [QUEUED]?: true };

/** A batch this size is written at once (64: the benchmark's whole turn, about 1 ms of work at most). */
export const DEFAULT_MAX_BATCH = 64;

export class ResponseBatch {
  private queue: Array<{ res: ServerResponse; status: number; headers: string[]; body: string }> =
    [];
  /** Whether a flush is pending for the end of this turn (one per turn, full batches aside). */
  private scheduled = false;
  private readonly endOfTurn = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    /** Called when writing one answer threw; the others are still written. */
    private readonly onError: (err: unknown) => void,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {}

  /** Whether `res` has been answered: sent, or waiting in a batch. */
  static answered(res: ServerResponse): boolean {
    return res.headersSent || (res as Marked)[QUEUED] === true;
  }

  /** Queues the answer (headers as a flat name, value list); a response is answered once. */
  send(res: ServerResponse, status: number, headers: string[], body: string): void {
    if (ResponseBatch.answered(res)) return;
    (res as Marked)[QUEUED] = true;
    this.queue.push({ res, status, headers, body });
    if (this.queue.length >= this.maxBatch) this.flush();
    else this.arm();
  }

  /**
   * Makes sure this turn ends with a flush. Calling it before the work that decides an
   * answer puts the flush ahead of what that work schedules for the end of the turn
   * (the read snapshot's COMMIT), so an idle server's answer is not kept waiting on it.
   */
  arm(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.endOfTurn);
  }

  /** Writes every queued answer, in the order they were queued. */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    for (const { res, status, headers, body } of batch) {
      try {
        res.writeHead(status, headers);
        res.end(body);
      } catch (err) {
        // Nothing sane is left to send on this response: close it, so the client is not
        // left waiting, and let the rest of the batch go out.
        res.destroy();
        this.onError(err);
      }
    }
  }
}
