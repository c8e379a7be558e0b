/**
 * The Fastify instance behind the edge, as every Darkroom listener has it: the API
 * (app.ts) and a worker's probe listener (probe-app.ts) differ only in their routes.
 * Here: the edge's steps on every request and connection, node's header timeout,
 * trusted proxies, request ids, the JSON body parser and the one error handler.
 */
import { createServer } from "node:http";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { AllowedMethods } from "./allowed-methods.js";
import { Edge, requestIdOf, setRoute, type EdgeHooks } from "./edge/edge.js";
import type { ConnectionLimitOptions } from "./edge/connection-limits.js";
import type { DeadlineOptions } from "./edge/request-deadline.js";
import { installErrorHandling } from "./error-handler.js";
import type { FastPath } from "./fast-paths/respond.js";
import { installJsonBodyParser } from "./json-body.js";
import { createClientErrorHandler, frameworkErrorHandler } from "./protocol-errors.js";

export interface ListenerOptions {
  log: Logger;
  bodyLimitBytes: number;
  /** One line per request, written by the edge (DARKROOM_ACCESS_LOG). */
  accessLog: boolean;
  /** Open connections per client address and in total (edge/connection-limits.ts). */
  connectionLimits: ConnectionLimitOptions;
  /** How long and how slowly a request may arrive (edge/request-deadline.ts). */
  requestDeadlines: DeadlineOptions & { headersTimeoutMs: number };
  /** Observers of every request (the hook point for metrics and CORS). */
  edgeHooks?: EdgeHooks[];
  /** Fastify's trustProxy: whose X-Forwarded-For gives the client address. */
  trustProxy?: boolean | number | string[];
}

export interface Listener {
  app: FastifyInstance;
  edge: Edge;
}

/** `fastPaths` answer what they take before Fastify's router (fast-paths/). */
export function createListener(opts: ListenerOptions, fastPaths: FastPath[] = []): Listener {
  const edge = new Edge({
    log: opts.log,
    accessLog: opts.accessLog,
    connections: opts.connectionLimits,
    deadlines: opts.requestDeadlines,
  });
  for (const hooks of opts.edgeHooks ?? []) edge.addHooks(hooks);
  const allowed = new AllowedMethods();

  const app = Fastify({
    serverFactory: (handler) => {
      const server = createServer(
        {
          ServerResponse: edge.responseClass(),
          // The header phase is node's to bound (answered 408 JSON by the client-error
          // handler); the body is the edge's (request-deadline.ts), so node's own
          // whole-request timer is off. Checked every second, not node's default 30 s.
          headersTimeout: opts.requestDeadlines.headersTimeoutMs,
          requestTimeout: 0,
          connectionsCheckingInterval: 1000,
        },
        (req, res) =>
          edge.handle(req, res, () => {
            const framework = () => handler(req, res);
            for (const take of fastPaths) if (take(req, res, framework)) return;
            framework();
          }),
      );
      edge.attach(server);
      return server;
    },
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance type the default one.
    loggerInstance: opts.log as FastifyBaseLogger,
    // The edge writes the access log, for every path; Fastify's own would miss fast paths.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    // A hop count is "trust the first n hops" (what Fastify does with a number at run time).
    trustProxy:
      typeof opts.trustProxy === "number"
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(opts.trustProxy)
        : (opts.trustProxy ?? false),
    // The edge chose the id (and already put it on the response).
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Wrong types are the client's error: never coerce "3" into 3.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // Our own JSON answers for what fails before routing (protocol-errors.ts).
    clientErrorHandler: createClientErrorHandler(opts.log as FastifyBaseLogger),
    frameworkErrors: frameworkErrorHandler,
    // Refusing requests while closing is the edge's step.
    return503OnClosing: false,
    forceCloseConnections: "idle",
  });

  app.addHook("preClose", (done) => {
    edge.close();
    done();
  });
  app.addHook("onRequest", (req, _reply, done) => {
    setRoute(req.raw, req.routeOptions.url ?? "(no route)", "framework");
    done();
  });
  allowed.install(app);
  // JSON only: without this, Fastify would parse text/plain bodies into strings.
  app.removeContentTypeParser("text/plain");
  installJsonBodyParser(app);
  installErrorHandling(app, allowed);
  return { app, edge };
}
