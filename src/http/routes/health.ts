/** Liveness (/healthz: the process answers) and readiness (/readyz: the database answers). */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../../core/errors.js";
import type { AppDeps } from "../app.js";

export type HealthRouteDeps = Pick<AppDeps, "store">;

export function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async () => {
    try {
      await deps.store.getSetting("signing_secret");
    } catch {
      throw new ApiError("service_unavailable", "The database is not reachable.");
    }
    return { status: "ready" };
  });
}
