/**
 * What an operator sees of one process: the lifecycle log (obs/lifecycle-log.ts) and,
 * unless DARKROOM_METRICS=false, the Prometheus registry (obs/metrics.ts) with its
 * sources and the HTTP edge hook that counts every request. Made here, once, for any
 * process that has an event bus, a store and a channel router, whatever else it runs:
 * the composition root hands the result to the app it listens with (`edgeHooks`,
 * `endpoint` for GET /metrics).
 */
import type { Logger } from "pino";
import type { ChannelRouter } from "../channels/router.js";
import type { Config } from "../config/config.js";
import type { EdgeHooks } from "../http/edge/edge.js";
import type { MetricsEndpoint } from "../http/routes/metrics.js";
import type { DarkroomEventBus } from "../obs/events.js";
import { logLifecycle } from "../obs/lifecycle-log.js";
import { DarkroomMetrics, type ChannelSnapshot } from "../obs/metrics.js";
import type { Store } from "../store/store.js";

export interface ObservabilityDeps {
  config: Pick<Config, "metrics">;
  events: DarkroomEventBus;
  log: Logger;
  store: Pick<Store, "activeTaskCounts">;
  router: Pick<ChannelRouter, "list" | "health">;
  models: () => readonly string[];
  /** This process's runner load; null when it runs none. */
  runner: () => { inFlight: number; concurrency: number } | null;
}

export interface Observability {
  /** null with DARKROOM_METRICS=false. */
  metrics: DarkroomMetrics | null;
  /** For the app's edge: every request, every path, counted once. */
  edgeHooks: EdgeHooks[];
  /** For GET /metrics; undefined when metrics are off (the route is then absent). */
  endpoint: MetricsEndpoint | undefined;
  stop(): void;
}

export function startObservability(d: ObservabilityDeps): Observability {
  const unlog = logLifecycle(d.events, d.log);
  if (!d.config.metrics.enabled)
    return { metrics: null, edgeHooks: [], endpoint: undefined, stop: unlog };

  const metrics = new DarkroomMetrics();
  metrics.setSources({
    models: d.models,
    activeTasks: () => d.store.activeTaskCounts(),
    runner: d.runner,
    channels: () =>
      d.router.list().map((c): ChannelSnapshot => {
        const h = d.router.health(c);
        return {
          id: c.def.id,
          model: c.def.model,
          provider: c.def.provider,
          usable: c.def.enabled && c.problem === null && c.provider !== undefined,
          state: h.state,
          inFlight: h.in_flight,
          maxConcurrency: h.max_concurrency,
        };
      }),
  });
  const unwatch = metrics.watch(d.events);
  return {
    metrics,
    edgeHooks: [
      {
        onResponse: (r, o) =>
          metrics.observeRequest(r.method, r.route, r.handler, o.status, o.durationMs),
      },
    ],
    endpoint: { render: () => metrics.render(), token: d.config.metrics.token },
    stop() {
      unwatch();
      unlog();
    },
  };
}
