/**
 * A worker's listener (DARKROOM_ROLE=worker): only /healthz and /readyz, so an
 * orchestrator can probe the process, and /metrics when metrics are on. Everything else is the usual 404 JSON; there is
 * no API, no admin API and no credential to check. Same edge and limits as the API.
 */
import type { FastifyInstance } from "fastify";
import type { Edge } from "./edge/edge.js";
import { createListener, type ListenerOptions } from "./listener.js";
import { healthRoutes, type HealthRouteDeps } from "./routes/health.js";
import { metricsRoutes, type MetricsEndpoint } from "./routes/metrics.js";

export type ProbeAppDeps = ListenerOptions & HealthRouteDeps & { metrics?: MetricsEndpoint };

export function buildProbeApp(deps: ProbeAppDeps): { app: FastifyInstance; edge: Edge } {
  const { app, edge } = createListener(deps);
  healthRoutes(app, deps);
  if (deps.metrics) metricsRoutes(app, deps.metrics);
  return { app, edge };
}
