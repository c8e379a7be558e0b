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
import type { Store } from "../store/store.js";
import type { WebhookStore } from "../store/webhooks.js";
import { installErrorHandling } from "./error-handler.js";
import { installAdminAuth } from "./plugins/admin-auth.js";
import { createPollFastPath } from "./fast-paths/poll.js";
import type { ClosableFastPath } from "./fast-paths/respond.js";
import { ResponseBatch } from "./fast-paths/response-batch.js";
import { createSubmitFastPath } from "./fast-paths/submit.js";
import { installJsonBodyParser } from "./json-body.js";
import {
  createClientErrorHandler,
  frameworkErrorHandler,
  installClosingGuard,
} from "./protocol-errors.js";
import { AuthGate, installAuth, type KeyCache } from "./plugins/auth.js";
import { requestIdFrom } from "./request-id.js";
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
  keys: KeyCache;
  signingSecret: Buffer;
  /** Turns a stored file's key into a signed, expiring public URL. */
  signLink: (key: string) => string;
  onSubmitted: (taskId: string, model: string) => void;
  /** A processing task was asked to stop; resolves when this process has settled it (if it runs here). */
  onCancelRequested: (taskId: string) => Promise<void>;
  log: Logger;
  bodyLimitBytes: number;
  accessLog: boolean;
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
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const gate = new AuthGate(deps.keys);
  const answers = new ResponseBatch((err) =>
    deps.log.error({ err }, "a fast-path answer could not be written"),
  );
  // With the access log on, every request must go through Fastify's logging.
  const fastPaths: ClosableFastPath[] = deps.accessLog
    ? []
    : [
        createPollFastPath({ ...deps, gate, answers }),
        createSubmitFastPath({ ...deps, gate, answers }),
      ];
  const [poll, submit] = fastPaths;
  const app = Fastify({
    serverFactory: (handler) =>
      createServer((req, res) => {
        const framework = () => handler(req, res);
        if (!poll?.(req, res, framework) && !submit?.(req, res, framework)) framework();
      }),
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance type the default one.
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !deps.accessLog }),
    bodyLimit: deps.bodyLimitBytes,
    // A hop count is "trust the first n hops" (what Fastify does with a number at run time).
    trustProxy:
      typeof deps.trustProxy === "number"
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(deps.trustProxy)
        : (deps.trustProxy ?? false),
    requestIdHeader: false,
    genReqId: (req) => requestIdFrom(req.headers["x-request-id"]),
    // Wrong types are the client's error: never coerce "3" into 3.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // Our own JSON answers for what fails before routing (protocol-errors.ts); the 503
    // while closing comes from installClosingGuard, not Fastify's raw body.
    clientErrorHandler: createClientErrorHandler(deps.log as FastifyBaseLogger),
    frameworkErrors: frameworkErrorHandler,
    return503OnClosing: false,
    forceCloseConnections: "idle",
  });

  app.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    done();
  });
  installClosingGuard(app, () => fastPaths.forEach((p) => p.close()));
  // JSON only: without this, Fastify would parse text/plain bodies into strings.
  app.removeContentTypeParser("text/plain");
  installJsonBodyParser(app);
  installErrorHandling(app);
  healthRoutes(app, deps);
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
      installAdminAuth(admin, deps.store);
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
  return app;
}
