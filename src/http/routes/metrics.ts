/**
 * GET /metrics: Prometheus' text exposition of the process's registry (obs/metrics.ts).
 * With DARKROOM_METRICS_TOKEN set it takes `Authorization: Bearer <token>`, compared in
 * constant time over digests; without, anyone who reaches the port may read it (names
 * of models and channels, volumes, no account, key or task ids).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";

export interface MetricsEndpoint {
  render(): Promise<{ contentType: string; body: string }>;
  /** The bearer token a scrape must present; null = open. */
  token: string | null;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export function metricsRoutes(app: FastifyInstance, endpoint: MetricsEndpoint): void {
  const expected = endpoint.token === null ? null : digest(endpoint.token);
  app.get("/metrics", async (req, reply) => {
    if (expected) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
      if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
        throw new ApiError("unauthorized", "The metrics endpoint needs its bearer token.", {
          headers: { "www-authenticate": 'Bearer realm="darkroom-metrics"' },
        });
      }
    }
    const { contentType, body } = await endpoint.render();
    reply.type(contentType);
    return body;
  });
}
