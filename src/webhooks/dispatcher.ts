/**
 * The outbox dispatcher: delivers the callback of every task that ended with a
 * `callback_url`. The finisher wrote the outbox row in the same transaction as the
 * terminal move and the settlement, so billing is final before anything is sent, and
 * a delivery survives any crash after that commit (the due rows are in the database).
 *
 * The loop is small and knows no SQL: it leases due rows from the WebhookStore, sends
 * each one (at most `concurrency` at once), and records every attempt, fenced by the
 * lease. It sleeps until the earliest due row or the poll interval, whichever is
 * sooner; `wake()` (a task finished in this process, an attempt ended) cuts the sleep
 * short. Another process's finished tasks are found by the poll.
 *
 * Each attempt builds the body afresh — the same JSON as `GET /v1/tasks/{id}`, with
 * result links signed at send time — and signs it with the account's current secret.
 * Shutdown stops claiming, lets sends in flight finish within a grace period, then
 * aborts the rest and gives their leases back without counting the attempt, so the
 * next process (or this one, restarted) sends them at once.
 */
import type { Logger } from "pino";
import { taskView, type LinkSigner } from "../core/public-task.js";
import { WakeableSleep } from "../core/wakeable-sleep.js";
import type { Store } from "../store/store.js";
import type { ClaimedDelivery, WebhookStore } from "../store/webhooks.js";
import { ATTEMPT_TIMEOUT_MS, describeResult, verdictFor, type SendResult } from "./schedule.js";
import { signWebhook } from "./sign.js";

export interface SendRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
}

/** POSTs one webhook: no redirects followed, address checked on the IP connected to. */
export type WebhookSender = (req: SendRequest) => Promise<SendResult>;

export interface DispatcherOptions {
  concurrency: number;
  pollIntervalMs: number;
  /** Longer than one attempt can take (timeout + DNS + margin): no heartbeat needed. */
  leaseMs: number;
  timeoutMs?: number;
  /** Plain-http callbacks (operator's choice); https only otherwise, re-checked at send time. */
  allowHttp: boolean;
  now?: () => number;
}

export interface AttemptEvent {
  deliveryId: string;
  taskId: string;
  attempt: number;
  statusCode: number | null;
  errorKind: string | null;
  final: boolean;
  /** delivered; retrying: another attempt is scheduled; failed: no more attempts. */
  outcome: "delivered" | "retrying" | "failed";
  latencyMs: number;
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
}

/** What a stop did with the sends in flight: attempts recorded, and leases given back. */
export interface DispatcherStopReport {
  recorded: number;
  handedBack: number;
}

export class WebhookDispatcher {
  private running = false;
  private loopDone: Promise<void> | null = null;
  private readonly idle = new WakeableSleep();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly now: () => number;
  /** While stopping: how the sends that ended since the stop began ended. */
  private report: DispatcherStopReport | null = null;
  /** Observers of finished attempts (tests, metrics). */
  onAttempt: ((e: AttemptEvent) => void) | null = null;

  constructor(
    private readonly deps: {
      webhooks: WebhookStore;
      store: Store;
      signLink: LinkSigner;
      send: WebhookSender;
      log: Logger;
    },
    private readonly opts: DispatcherOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Something may have become due (a task finished here): look now. */
  wake(): void {
    this.idle.wake();
  }

  /**
   * Stops claiming; sends in flight get `graceMs` to end (one attempt is bounded by its
   * timeout anyway), then are aborted and their leases given back uncounted.
   */
  async stop(graceMs = 0): Promise<DispatcherStopReport> {
    const report: DispatcherStopReport = { recorded: 0, handedBack: 0 };
    if (!this.running) return report;
    this.running = false;
    this.report = report;
    this.wake();
    await this.loopDone;
    const settled = () => Promise.all([...this.inFlight.values()].map((f) => f.done));
    if (graceMs > 0 && this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        settled(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const f of this.inFlight.values()) f.controller.abort();
    await settled();
    this.report = null;
    return report;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let waitMs = this.opts.pollIntervalMs;
      try {
        const free = this.opts.concurrency - this.inFlight.size;
        if (free > 0) {
          const claimed = await this.deps.webhooks.claimDue(free, this.opts.leaseMs, this.now());
          for (const c of claimed) this.launch(c);
          if (this.inFlight.size < this.opts.concurrency) {
            const due = await this.deps.webhooks.nextDueMs();
            if (due !== null) waitMs = Math.min(waitMs, Math.max(5, due - this.now()));
          }
        }
      } catch (err) {
        this.deps.log.error({ err }, "webhook dispatcher could not read the outbox");
      }
      if (!this.running) break;
      await this.idle.sleep(waitMs);
    }
  }

  private launch(c: ClaimedDelivery): void {
    const controller = new AbortController();
    const done = this.deliver(c, controller.signal)
      .catch((err: unknown) => {
        this.deps.log.error({ err, deliveryId: c.id }, "webhook delivery failed unexpectedly");
      })
      .finally(() => {
        this.inFlight.delete(c.id);
        this.wake();
      });
    this.inFlight.set(c.id, { controller, done });
  }

  private async send(c: ClaimedDelivery, signal: AbortSignal): Promise<SendResult> {
    let url: URL;
    try {
      url = new URL(c.url);
    } catch {
      return { kind: "invalid", message: "The callback URL is not a valid URL." };
    }
    if (url.protocol !== "https:" && !(this.opts.allowHttp && url.protocol === "http:"))
      return { kind: "blocked", message: "Callbacks must use https." };
    if (url.username || url.password)
      return { kind: "blocked", message: "Callback URLs must not carry credentials." };
    if (!c.secret) return { kind: "invalid", message: "The account has no webhook secret." };
    const task = await this.deps.store.getTask(c.accountId, c.taskId);
    if (!task) return { kind: "invalid", message: "The task no longer exists." };
    const body = JSON.stringify(taskView(task, this.deps.signLink));
    return this.deps.send({
      url: c.url,
      body,
      headers: {
        "content-type": "application/json",
        "user-agent": "Darkroom-Webhooks/1",
        ...signWebhook(c.secret, c.id, body, new Date(this.now())),
      },
      timeoutMs: this.opts.timeoutMs ?? ATTEMPT_TIMEOUT_MS,
      signal,
    });
  }

  private async deliver(c: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const result = await this.send(c, signal);
    if (signal.aborted) {
      // Shutdown mid-send: not an attempt of ours to count; the next process resends it.
      await this.deps.webhooks.releaseLease(c.id, c.leaseToken);
      if (this.report) this.report.handedBack++;
      return;
    }
    const latencyMs = performance.now() - started;
    const outcome = describeResult(result);
    const nowMs = this.now();
    const verdict = verdictFor(outcome, c.scheduleAttempt, nowMs);
    const kept = await this.deps.webhooks.recordAttempt({
      id: c.id,
      leaseToken: c.leaseToken,
      attempt: c.attempt,
      latencyMs,
      ...outcome,
      verdict,
      nowMs,
    });
    if (this.report) this.report.recorded++;
    // Never log the URL's query (it may carry the receiver's own token) or the secret.
    const fields = {
      deliveryId: c.id,
      taskId: c.taskId,
      attempt: c.attempt,
      status: verdict.status,
      statusCode: outcome.statusCode,
      errorKind: outcome.errorKind,
    };
    // Each outcome is logged by whoever observes onAttempt (obs/lifecycle-log.ts), once.
    if (!kept) this.deps.log.warn(fields, "webhook lease lost; the attempt was not recorded");
    this.onAttempt?.({
      deliveryId: c.id,
      taskId: c.taskId,
      attempt: c.attempt,
      statusCode: outcome.statusCode,
      errorKind: outcome.errorKind,
      final: verdict.status !== "pending",
      outcome: verdict.status === "pending" ? "retrying" : verdict.status,
      latencyMs,
    });
  }
}
