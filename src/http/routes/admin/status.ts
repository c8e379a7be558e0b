/** GET /admin/v1/status: the process's role, memory, event-loop delay and runner load. */
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../app.js";

export type AdminStatusRouteDeps = Pick<AppDeps, "monitor" | "runnerStatus" | "role">;

export function adminStatusRoutes(app: FastifyInstance, deps: AdminStatusRouteDeps): void {
  app.get("/status", async () => ({
    object: "status",
    role: deps.role,
    ...deps.monitor.snapshot(),
    runner: deps.runnerStatus(),
  }));
}
