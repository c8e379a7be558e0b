/**
 * "There is new work" across processes on PostgreSQL: an API process that commits a
 * submission tells every worker process, which then claims at once instead of waiting
 * for its next poll, and nobody busy-polls.
 *
 * Sending: a `NOTIFY` after the submission has committed (a worker woken earlier would
 * not see the task yet). PostgreSQL serialises the commits of notifying transactions
 * on one lock, so a notify per task would put a global bottleneck on submissions:
 * notifies are coalesced instead. At most one is in flight per process; commits that
 * land while it is in flight cause exactly one more after it (the one in flight may
 * have committed before them), never one per task.
 *
 * Receiving: `LISTEN` on a dedicated connection (not the pool's: a pooled connection
 * is handed to others and would drop the subscription), opened when the first
 * subscriber arrives. When that connection fails it is opened again, with backoff, and
 * subscribers are called once it listens again, since a notification sent while it was
 * down is lost. A wake is only a hint: workers still claim on a slow timer, so a lost
 * one delays work, never loses it.
 */
import pg from "pg";
import type { Queryable } from "./database.js";

/**
 * Hears that another process committed new work (PostgreSQL: LISTEN/NOTIFY), so a
 * worker claims at once instead of on its next poll. A hint only: a wake may be lost
 * (a dropped connection) or spurious, so workers keep a slow poll as well.
 */
export interface WorkSignal {
  /** Calls `cb` whenever new work may be there; returns the unsubscribe. */
  onWork(cb: () => void): () => void;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export interface PgWorkSignalOptions {
  url: string;
  /** Each schema has its own channel, so databases shared by tests do not wake each other. */
  schema: string;
  /** Where NOTIFY is sent (the pool). */
  db: Queryable;
  onError?: (err: Error, what: string) => void;
}

export class PgWorkSignal implements WorkSignal {
  private readonly channel: string;
  private readonly subscribers = new Set<() => void>();
  private sending = false;
  private again = false;
  private listener: pg.Client | null = null;
  private started = false;
  private closed = false;
  private backoffMs = RECONNECT_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private listeningNow: Promise<void>;
  private markListening: () => void = () => undefined;

  constructor(private readonly opts: PgWorkSignalOptions) {
    this.channel = opts.schema === "public" ? "darkroom_work" : `darkroom_work_${opts.schema}`;
    this.listeningNow = this.nextListening();
  }

  /** Says "new work" once its caller's work has committed; coalesced (see above). */
  notify(): void {
    if (this.closed) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    this.opts.db
      .query(`SELECT pg_notify($1, '')`, [this.channel])
      .catch((err: Error) => this.opts.onError?.(err, "NOTIFY failed"))
      .finally(() => {
        this.sending = false;
        if (this.again) {
          this.again = false;
          this.notify();
        }
      });
  }

  onWork(cb: () => void): () => void {
    this.subscribers.add(cb);
    if (!this.started) {
      this.started = true;
      void this.listen();
    }
    return () => {
      this.subscribers.delete(cb);
    };
  }

  /** Resolves once the LISTEN connection listens (again); for tests. */
  listening(): Promise<void> {
    return this.listeningNow;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const l = this.listener;
    this.listener = null;
    if (l) await l.end().catch(() => undefined);
  }

  private nextListening(): Promise<void> {
    return new Promise((resolve) => {
      this.markListening = resolve;
    });
  }

  private wake(): void {
    for (const cb of [...this.subscribers]) {
      try {
        cb();
      } catch (err) {
        this.opts.onError?.(err as Error, "a work subscriber threw");
      }
    }
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.opts.url,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    let failed = false;
    const fail = (err: Error | null) => {
      if (failed) return;
      failed = true;
      if (this.listener === client) this.listener = null;
      client.removeAllListeners("notification");
      client.end().catch(() => undefined);
      if (this.closed) return;
      if (err) this.opts.onError?.(err, "the LISTEN connection failed; it reconnects");
      this.retryTimer = setTimeout(() => void this.listen(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    };
    client.on("error", fail);
    client.on("end", () => fail(null));
    client.on("notification", (m) => {
      if (m.channel === this.channel) this.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      fail(err as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.backoffMs = RECONNECT_MIN_MS;
    this.markListening();
    this.listeningNow = Promise.resolve();
    // A notification sent while nobody listened is lost: look for work now.
    this.wake();
    // The next outage gets a fresh promise.
    client.once("end", () => {
      this.listeningNow = this.nextListening();
    });
  }
}
