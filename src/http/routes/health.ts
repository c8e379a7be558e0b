/**
 * Liveness (/healthz: the process answers) and readiness (/readyz: the database
 * answers and the process wants traffic: not shutting down, and on a worker the runner
 * is running). A load balancer or orchestrator stops sending work on the first 503.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import type { Store } from "../../store/store.js";

export interface HealthRouteDeps {
  store: Pick<Store, "getSetting">;
  /** Why this process should get no traffic now, or null when it should. */
  notReady?: () => string | null;
}

export function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async () => {
    const why = deps.notReady?.();
    if (why) throw new ApiError("service_unavailable", why);
    try {
      await deps.store.getSetting("signing_secret");
    } catch {
      throw new ApiError("service_unavailable", "The database is not reachable.");
    }
    return { status: "ready" };
  });
}
