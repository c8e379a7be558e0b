/**
 * The Fastify app factory. It wires plugins and routes to the services it is given
 * and starts nothing: the caller (server/start.ts, or a test) decides when to listen.
 */
import { createServer } from "node:http";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { ManageDeps } from "../channels/manage.js";
import type { ChannelRouter } from "../channels/router.js";
import type { DurationEstimator } from "../core/estimate.js";
import type { ModelCatalogue } from "../core/models.js";
import type { ValidateOptions } from "../core/validate.js";
import type { MediaStorage } from "../media/storage.js";
import type { ProcessMonitor } from "../obs/process-monitor.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { AdminStore } from "../store/admin.js";
import type { Store, TaskRecord } from "../store/store.js";
import type { WebhookStore } from "../store/webhooks.js";
import { AllowedMethods } from "./allowed-methods.js";
import { Edge, requestIdOf, setRoute, type EdgeHooks } from "./edge/edge.js";
import type { ConnectionLimitOptions } from "./edge/connection-limits.js";
import type { DeadlineOptions } from "./edge/request-deadline.js";
import { installErrorHandling } from "./error-handler.js";
import { createPollFastPath } from "./fast-paths/poll.js";
import { createSubmitFastPath } from "./fast-paths/submit.js";
import type { FastPath } from "./fast-paths/respond.js";
import { installJsonBodyParser } from "./json-body.js";
import { installAdminAudit } from "./plugins/admin-audit.js";
import { installAdminAuth } from "./plugins/admin-auth.js";
import { AuthGate, installAuth, type KeyCache } from "./plugins/auth.js";
import { SlidingWindowLimiter } from "./plugins/limiter.js";
import { createClientErrorHandler, frameworkErrorHandler } from "./protocol-errors.js";
import { adminAccountRoutes } from "./routes/admin/accounts.js";
import { adminCatalogueRoutes } from "./routes/admin/catalogue.js";
import { adminKeyRoutes } from "./routes/admin/keys.js";
import { adminLedgerRoutes } from "./routes/admin/ledger.js";
import { adminStatusRoutes } from "./routes/admin/status.js";
import { adminChannelRoutes } from "./routes/admin/channels.js";
import { adminWebhookRoutes } from "./routes/admin/webhooks.js";
import { fileRoutes } from "./routes/files.js";
import { generationRoutes } from "./routes/generations.js";
import { healthRoutes } from "./routes/health.js";
import { metricsRoutes, type MetricsEndpoint } from "./routes/metrics.js";
import { accountRoutes } from "./routes/account.js";
import { taskRoutes } from "./routes/tasks.js";
import { webhookSecretRoutes } from "./routes/webhook-secret.js";

export interface AppDeps {
  store: Store;
  admin: AdminStore;
  catalogue: ModelCatalogue;
  registry: ProviderRegistry;
  /** Channel routing and health (availability at submission, the admin channel routes). */
  channels: ChannelRouter;
  channelAdmin: ManageDeps;
  media: MediaStorage;
  estimator: DurationEstimator;
  /** The most tasks of one model that may wait as pending; null = no limit (config.queue). */
  queueMaxDepth: number | null;
  keys: KeyCache;
  signingSecret: Buffer;
  /** Turns a stored file's key into a signed, expiring public URL. */
  signLink: (key: string) => string;
  /** A submission created `task` (in request `requestId`): events, the runner's wake-up. */
  onSubmitted: (task: TaskRecord, requestId: string) => void;
  /** A processing task was asked to stop; resolves when this process has settled it (if it runs here). */
  onCancelRequested: (taskId: string) => Promise<void>;
  log: Logger;
  bodyLimitBytes: number;
  /** One line per request, written by the edge (DARKROOM_ACCESS_LOG). */
  accessLog: boolean;
  /** Plain polls and submissions answered before the framework (fast-paths/); false only to measure them. */
  fastPaths?: boolean;
  /** Open connections per client address and in total (edge/connection-limits.ts). */
  connectionLimits: ConnectionLimitOptions;
  /** How long and how slowly a request may arrive (edge/request-deadline.ts). */
  requestDeadlines: DeadlineOptions & { headersTimeoutMs: number };
  /** Observers of every request (the hook point for metrics and CORS). */
  edgeHooks?: EdgeHooks[];
  /** Fastify's trustProxy: whose X-Forwarded-For gives the client address. */
  trustProxy?: boolean | number | string[];
  monitor: ProcessMonitor;
  /** The runner's load in this process, or null when it runs no runner (API only). */
  runnerStatus: () => { in_flight: number; concurrency: number } | null;
  /** Operator choices that change what a submission accepts (callback policy). */
  validateOptions?: ValidateOptions;
  /** The callback outbox (deliveries and their attempts). */
  webhooks: WebhookStore;
  /** A delivery was re-queued: the dispatcher (if it runs here) should look now. */
  onWebhookQueued?: () => void;
  /** GET /metrics (routes/metrics.ts); absent = no such route (DARKROOM_METRICS=false). */
  metrics?: MetricsEndpoint;
}

export interface DarkroomApp {
  app: FastifyInstance;
  edge: Edge;
}

export function buildApp(deps: AppDeps): DarkroomApp {
  const gate = new AuthGate(deps.keys);
  // rpm limits hold across API processes: this process's counts are shared every second.
  const shareRpm = setInterval(() => {
    gate.rpm
      .share(async (added, nowMs) => {
        const totals = await deps.store.shareRequestCounts(
          added.map((a) => ({ keyId: a.id, windowStartMs: a.windowStartMs, n: a.n })),
          nowMs - 2 * 60_000,
        );
        return totals.map((t) => ({ id: t.keyId, windowStartMs: t.windowStartMs, n: t.n }));
      }, Date.now())
      .catch((err: unknown) => deps.log.warn({ err }, "sharing request counts failed"));
  }, 1000);
  shareRpm.unref();
  const edge = new Edge({
    log: deps.log,
    accessLog: deps.accessLog,
    connections: deps.connectionLimits,
    deadlines: deps.requestDeadlines,
  });
  for (const hooks of deps.edgeHooks ?? []) edge.addHooks(hooks);
  const fastPaths: FastPath[] =
    deps.fastPaths === false
      ? []
      : [createPollFastPath({ ...deps, gate }), createSubmitFastPath({ ...deps, gate })];
  const allowed = new AllowedMethods();

  const app = Fastify({
    serverFactory: (handler) => {
      const server = createServer(
        {
          ServerResponse: edge.responseClass(),
          // The header phase is node's to bound (answered 408 JSON by the client-error
          // handler); the body is the edge's (request-deadline.ts), so node's own
          // whole-request timer is off. Checked every second, not node's default 30 s.
          headersTimeout: deps.requestDeadlines.headersTimeoutMs,
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
    loggerInstance: deps.log as FastifyBaseLogger,
    // The edge writes the access log, for every path; Fastify's own would miss fast paths.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    // A hop count is "trust the first n hops" (what Fastify does with a number at run time).
    trustProxy:
      typeof deps.trustProxy === "number"
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(deps.trustProxy)
        : (deps.trustProxy ?? false),
    // The edge chose the id (and already put it on the response).
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Wrong types are the client's error: never coerce "3" into 3.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // Our own JSON answers for what fails before routing (protocol-errors.ts).
    clientErrorHandler: createClientErrorHandler(deps.log as FastifyBaseLogger),
    frameworkErrors: frameworkErrorHandler,
    // Refusing requests while closing is the edge's step.
    return503OnClosing: false,
    forceCloseConnections: "idle",
  });

  app.addHook("preClose", (done) => {
    clearInterval(shareRpm);
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
  healthRoutes(app, deps);
  if (deps.metrics) metricsRoutes(app, deps.metrics);
  fileRoutes(app, deps);

  app.register(
    async (v1) => {
      installAuth(v1, gate);
      generationRoutes(v1, deps);
      taskRoutes(v1, deps);
      accountRoutes(v1, deps);
      webhookSecretRoutes(v1, deps);
    },
    { prefix: "/v1" },
  );
  app.register(
    async (admin) => {
      // Its own failure counter: a key guesser on an address does not lock its admin out.
      installAdminAuth(admin, deps.store, new SlidingWindowLimiter());
      installAdminAudit(admin, deps.log);
      adminAccountRoutes(admin, deps);
      adminKeyRoutes(admin, deps);
      adminCatalogueRoutes(admin, deps);
      adminLedgerRoutes(admin, deps);
      adminStatusRoutes(admin, deps);
      adminChannelRoutes(admin, deps);
      adminWebhookRoutes(admin, deps);
    },
    { prefix: "/admin/v1" },
  );
  return { app, edge };
}
