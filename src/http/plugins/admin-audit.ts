/**
 * The audit log of the admin API: one info line per change an authenticated admin asked
 * for (every POST, PUT, PATCH and DELETE under /admin/v1, refused ones included, with
 * the status they got), and per read of a secret. Written here, once, when the answer
 * is sent, so a route cannot forget it; a route only adds what it alone knows (the ids
 * it made, balances before and after a money move) with `audit(req, …)`.
 *
 * Each line: `event: "admin.audit"`, who (the admin credential: `admin`, the only one
 * there is), the client address, the request id, what (`action`: method and route
 * pattern), the target (`params`: the ids in the path) and the status. Never a body:
 * bodies carry the values routes choose to audit, and nothing else is logged, so a
 * key's secret, a webhook secret or a signed link cannot reach the log from here.
 * Requests the admin guard refused (no or wrong token, throttled) are not audited: they
 * changed nothing and an anonymous caller must not be able to fill the log.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";

declare module "fastify" {
  interface FastifyRequest {
    /** What a route adds to its audit line; null: nothing. */
    auditDetails: Record<string, unknown> | null;
  }
}

const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Adds `details` to the request's audit line (and audits a read that would not be). */
export function audit(req: FastifyRequest, details: Record<string, unknown>): void {
  req.auditDetails = req.auditDetails ? { ...req.auditDetails, ...details } : details;
}

/** Call inside the admin scope, after its guard (plugins/admin-auth.ts). */
export function installAdminAudit(app: FastifyInstance, log: Pick<Logger, "info">): void {
  app.decorateRequest("auditDetails", null);
  app.addHook("onResponse", (req, reply, done) => {
    if (req.adminActor !== null && (CHANGES.has(req.method) || req.auditDetails !== null)) {
      log.info(
        {
          event: "admin.audit",
          reqId: req.id,
          who: req.adminActor,
          ip: req.ip,
          action: `${req.method} ${req.routeOptions.url ?? req.url.split("?")[0]}`,
          params: req.params,
          status: reply.statusCode,
          ...req.auditDetails,
        },
        "admin change",
      );
    }
    done();
  });
}
