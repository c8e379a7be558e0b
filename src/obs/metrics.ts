/**
 * Prometheus metrics (prom-client), for `GET /metrics`. One registry per process
 * (`new DarkroomMetrics`, made by the composition root), fed three ways:
 *
 *  - lifecycle events (events.ts): tasks submitted, claimed, finished (by model, status
 *    and failure code), their queue wait, upstream calls and total durations, charges,
 *    webhook attempts — counted as they happen, wherever in the process they happen;
 *  - `observeRequest`: every HTTP request, from the edge's onResponse hook (fast paths
 *    and Fastify alike, one place);
 *  - `MetricsSources`, read at scrape time: the queue per model (the store's kept
 *    counts), the runner's load, each channel's health and breaker state.
 *
 * This layer knows no store, router or runner: the sources are plain callbacks the
 * composition root passes in. Label values are bounded: models and channels are the
 * operator's, routes are patterns (never the URL), codes come from closed catalogues.
 *
 * Per request the cost is a few map lookups and additions (request-metrics.ts says
 * why not prom-client's own increments there).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { MICROS_PER_CREDIT } from "../core/money.js";
import { RequestMetrics } from "./request-metrics.js";
import { subscribe, type DarkroomEventBus, type EventHandlers } from "./events.js";

/** A channel as the metrics see it (the router's list and health, flattened). */
export interface ChannelSnapshot {
  id: string;
  model: string;
  provider: string;
  /** Enabled, its provider known and its secret readable: routing may pick it. */
  usable: boolean;
  state: "closed" | "open" | "half-open";
  inFlight: number;
  /** null: no limit (the built-in sandbox channels). */
  maxConcurrency: number | null;
}

export interface MetricsSources {
  /** Every model the catalogue serves (so an empty queue reads 0, not absent). */
  models(): readonly string[];
  /** Tasks pending and processing per model, over every process (the store's kept counts). */
  activeTasks(): Promise<Array<{ model: string; status: "pending" | "processing"; count: number }>>;
  /** This process's runner, or null when it runs none. */
  runner(): { inFlight: number; concurrency: number } | null;
  channels(): ChannelSnapshot[];
}

type ActiveCounts = Awaited<ReturnType<MetricsSources["activeTasks"]>>;

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC): prom-client's defaults. */
  processMetrics?: boolean;
  /** Labels on every series, e.g. `{ role: "worker" }` when several roles are scraped. */
  defaultLabels?: Record<string, string>;
}

const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const QUEUE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
const TASK_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 300, 600];
const WEBHOOK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class DarkroomMetrics {
  readonly registry = new Registry();
  private readonly requests: RequestMetrics;
  private sources: MetricsSources | null = null;
  /** The queue read of the scrape in progress: both queue gauges share it. */
  private queueRead: Promise<ActiveCounts | null> | null = null;

  private readonly submitted: Counter<"model">;
  private readonly claimed: Counter<"model">;
  private readonly finished: Counter<"model" | "status" | "code">;
  private readonly leaseLost: Counter;
  private readonly charged: Counter<"model">;
  private readonly queueWait: Histogram<"model">;
  private readonly taskDuration: Histogram<"model" | "status">;
  private readonly upstreamCalls: Counter<"model" | "channel" | "provider" | "outcome" | "code">;
  private readonly upstreamDuration: Histogram<"model" | "channel" | "provider" | "outcome">;
  private readonly webhookAttempts: Counter<"outcome" | "error_kind">;
  private readonly webhookDuration: Histogram<"outcome">;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    if (opts.defaultLabels) this.registry.setDefaultLabels(opts.defaultLabels);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.requests = new RequestMetrics(
      this.registry,
      {
        count: {
          name: "darkroom_http_requests_total",
          help: "HTTP requests answered, by method, route pattern, handler (framework or a fast path) and status.",
        },
        duration: {
          name: "darkroom_http_request_duration_seconds",
          help: "From a request's arrival to its answer written (or the connection gone).",
        },
      },
      HTTP_BUCKETS,
    );
    this.submitted = new Counter({
      name: "darkroom_tasks_submitted_total",
      help: "Tasks created by submissions in this process (idempotent replays not counted).",
      labelNames: ["model"],
      registers,
    });
    this.claimed = new Counter({
      name: "darkroom_tasks_claimed_total",
      help: "Claims of tasks by this process's runner (a re-claim after a crash counts again).",
      labelNames: ["model"],
      registers,
    });
    this.finished = new Counter({
      name: "darkroom_tasks_finished_total",
      help: "Tasks this process moved to a terminal status, by model, status and failure code.",
      labelNames: ["model", "status", "code"],
      registers,
    });
    this.leaseLost = new Counter({
      name: "darkroom_tasks_lease_lost_total",
      help: "Tasks this runner stopped because another runner took them over (lease lapsed).",
      registers,
    });
    this.charged = new Counter({
      name: "darkroom_credits_charged_total",
      help: "Credits charged for finished tasks (failed tasks are refunded: 0).",
      labelNames: ["model"],
      registers,
    });
    this.queueWait = new Histogram({
      name: "darkroom_task_queue_wait_seconds",
      help: "From submission to a runner's claim.",
      labelNames: ["model"],
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.taskDuration = new Histogram({
      name: "darkroom_task_duration_seconds",
      help: "From submission to the terminal status, by model and status.",
      labelNames: ["model", "status"],
      buckets: TASK_BUCKETS,
      registers,
    });
    this.upstreamCalls = new Counter({
      name: "darkroom_upstream_calls_total",
      help: "Upstream calls ended, by model, channel, provider, outcome (ok, error, aborted) and failure code.",
      labelNames: ["model", "channel", "provider", "outcome", "code"],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: "darkroom_upstream_duration_seconds",
      help: "One upstream call, from its start to the provider's answer (images stored included).",
      labelNames: ["model", "channel", "provider", "outcome"],
      buckets: TASK_BUCKETS,
      registers,
    });
    this.webhookAttempts = new Counter({
      name: "darkroom_webhook_attempts_total",
      help: "Callback POSTs, by outcome (delivered, retrying, failed) and error kind.",
      labelNames: ["outcome", "error_kind"],
      registers,
    });
    this.webhookDuration = new Histogram({
      name: "darkroom_webhook_attempt_duration_seconds",
      help: "One callback POST, from the send to the receiver's answer or the error.",
      labelNames: ["outcome"],
      buckets: WEBHOOK_BUCKETS,
      registers,
    });

    // Read at scrape time from the sources (their values live elsewhere).
    const runner = () => this.sources?.runner() ?? null;
    const channels = () => this.sources?.channels() ?? [];
    scrapeGauge(
      registers,
      "darkroom_metrics_source_up",
      "1 when the source could be read in this scrape, 0 when it failed (its series are left out).",
      ["source"],
      async (g) => g.set({ source: "queue" }, (await this.readQueue()) ? 1 : 0),
    );
    scrapeGauge(
      registers,
      "darkroom_tasks_queued",
      "Tasks pending (submitted, not yet claimed) per model, over every process.",
      ["model"],
      (g) => this.collectQueue(g, "pending"),
    );
    scrapeGauge(
      registers,
      "darkroom_tasks_processing",
      "Tasks claimed and running per model, over every process.",
      ["model"],
      (g) => this.collectQueue(g, "processing"),
    );
    scrapeGauge(
      registers,
      "darkroom_runner_in_flight",
      "Tasks this process's runner is working on (0 when it runs no runner).",
      [],
      (g) => g.set(runner()?.inFlight ?? 0),
    );
    scrapeGauge(
      registers,
      "darkroom_runner_concurrency",
      "How many tasks this process's runner works on at most (0: it runs no runner).",
      [],
      (g) => g.set(runner()?.concurrency ?? 0),
    );
    const perChannel = (name: string, help: string, value: (c: ChannelSnapshot) => number | null) =>
      scrapeGauge(registers, name, help, ["channel", "model", "provider"], (g) => {
        g.reset();
        for (const c of channels()) {
          const v = value(c);
          if (v !== null) g.set({ channel: c.id, model: c.model, provider: c.provider }, v);
        }
      });
    perChannel(
      "darkroom_channel_usable",
      "1 when routing may pick the channel (enabled, provider known, secret readable), else 0.",
      (c) => (c.usable ? 1 : 0),
    );
    perChannel(
      "darkroom_channel_in_flight",
      "Upstream calls in flight on the channel, in this process.",
      (c) => c.inFlight,
    );
    perChannel(
      "darkroom_channel_max_concurrency",
      "The channel's max_concurrency (absent for the built-in sandbox channels).",
      (c) => c.maxConcurrency,
    );
    scrapeGauge(
      registers,
      "darkroom_channel_breaker_state",
      "The channel's circuit breaker in this process: 1 for its current state, 0 for the others.",
      ["channel", "model", "provider", "state"],
      (g) => {
        g.reset();
        for (const c of channels()) {
          for (const state of ["closed", "open", "half-open"] as const)
            g.set(
              { channel: c.id, model: c.model, provider: c.provider, state },
              c.state === state ? 1 : 0,
            );
        }
      },
    );
  }

  /** What the scrape-time gauges read (queue, runner, channels). */
  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** Counts the lifecycle events of `events`; returns the unsubscriber. */
  watch(events: DarkroomEventBus): () => void {
    const on: EventHandlers = {
      "task:submitted": (e) => this.submitted.inc({ model: e.model }),
      "task:claimed": (e) => {
        this.claimed.inc({ model: e.model });
        this.queueWait.observe({ model: e.model }, e.waitedMs / 1000);
      },
      "task:upstream_finished": (e) => {
        const labels = { model: e.model, channel: e.channel, provider: e.provider };
        this.upstreamCalls.inc({ ...labels, outcome: e.outcome, code: e.code ?? "" });
        this.upstreamDuration.observe({ ...labels, outcome: e.outcome }, e.durationMs / 1000);
      },
      "task:finished": (e) => {
        this.finished.inc({ model: e.model, status: e.status, code: e.code ?? "" });
        this.taskDuration.observe({ model: e.model, status: e.status }, e.seconds);
        this.charged.inc({ model: e.model }, e.chargeMicros / MICROS_PER_CREDIT);
      },
      "task:lease_lost": () => this.leaseLost.inc(),
      "webhook:attempt": (e) => {
        this.webhookAttempts.inc({ outcome: e.outcome, error_kind: e.errorKind ?? "" });
        this.webhookDuration.observe({ outcome: e.outcome }, e.latencyMs / 1000);
      },
    };
    return subscribe(events, on);
  }

  /** One HTTP request, as the edge saw it end. `route` null: none took it (the edge answered). */
  observeRequest(
    method: string,
    route: string | null,
    handler: string | null,
    status: number,
    durationMs: number,
  ): void {
    this.requests.observe(method, route ?? "(none)", handler ?? "edge", status, durationMs / 1000);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * The queue as the store counts it, read once per scrape: every gauge that needs it
   * starts collecting in the same turn and shares the read in flight. null: it failed.
   */
  private readQueue(): Promise<ActiveCounts | null> {
    const sources = this.sources;
    if (!sources) return Promise.resolve(null);
    this.queueRead ??= sources
      .activeTasks()
      .catch(() => null)
      .finally(() => (this.queueRead = null));
    return this.queueRead;
  }

  private async collectQueue(gauge: Gauge<"model">, status: "pending" | "processing") {
    gauge.reset();
    const counts = await this.readQueue();
    // A failed read leaves the queue out (darkroom_metrics_source_up says so), not the scrape.
    if (!counts) return;
    for (const model of this.sources?.models() ?? []) gauge.set({ model }, 0);
    for (const c of counts) if (c.status === status) gauge.set({ model: c.model }, c.count);
  }
}

/** A gauge whose value is read when scraped (`read` sets it on the gauge it is given). */
function scrapeGauge<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (g: Gauge<L>) => void | Promise<void>,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers,
    collect() {
      return read(this);
    },
  });
}
