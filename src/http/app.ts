/**
 * The Fastify app factory. It wires plugins and routes to the services it is given
 * and starts nothing: the caller (server/start.ts, or a test) decides when to listen.
 */
import type { FastifyInstance } from "fastify";
import type { ProcessRole } from "../config/config.js";
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
import type { Edge } from "./edge/edge.js";
import { createPollFastPath } from "./fast-paths/poll.js";
import { createSubmitFastPath } from "./fast-paths/submit.js";
import type { FastPath } from "./fast-paths/respond.js";
import { createListener, type ListenerOptions } from "./listener.js";
import type { SubmissionDeps } from "./submission.js";
import { installAdminAudit } from "./plugins/admin-audit.js";
import { installAdminAuth } from "./plugins/admin-auth.js";
import { AuthGate, installAuth, type KeyCache } from "./plugins/auth.js";
import { SlidingWindowLimiter } from "./plugins/limiter.js";
import { adminAccountRoutes } from "./routes/admin/accounts.js";
import { adminCatalogueRoutes } from "./routes/admin/catalogue.js";
import { adminKeyRoutes } from "./routes/admin/keys.js";
import { adminLedgerRoutes } from "./routes/admin/ledger.js";
import { adminStatusRoutes } from "./routes/admin/status.js";
import { adminChannelRoutes } from "./routes/admin/channels.js";
import { adminWebhookRoutes } from "./routes/admin/webhooks.js";
import { adminStatsRoutes } from "./routes/admin/stats.js";
import { adminTaskRoutes } from "./routes/admin/tasks.js";
import { fileRoutes } from "./routes/files.js";
import { fileApiRoutes, type FileApiDeps } from "./routes/uploads.js";
import { generationRoutes } from "./routes/generations.js";
import { healthRoutes } from "./routes/health.js";
import { consoleRoutes, type ConsoleRouteOptions } from "./routes/console.js";
import { metricsRoutes, type MetricsEndpoint } from "./routes/metrics.js";
import { accountRoutes } from "./routes/account.js";
import { openApiRoutes } from "./routes/openapi.js";
import { taskRoutes } from "./routes/tasks.js";
import { webhookSecretRoutes } from "./routes/webhook-secret.js";

export interface AppDeps extends ListenerOptions {
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
  /** Plain polls and submissions answered before the framework (fast-paths/); false only to measure them. */
  fastPaths?: boolean;
  monitor: ProcessMonitor;
  /** What this process runs (DARKROOM_ROLE), shown by /admin/v1/status. */
  role: ProcessRole;
  /** Why /readyz should answer 503 now (shutting down), or null. */
  notReady?: () => string | null;
  /** The runner's load in this process, or null when it runs no runner (API only). */
  runnerStatus: () => { in_flight: number; concurrency: number } | null;
  /** Operator choices that change what a submission accepts (callback policy). */
  validateOptions?: ValidateOptions;
  /** The callback outbox (deliveries and their attempts). */
  webhooks: WebhookStore;
  /** A delivery was re-queued: the dispatcher (if it runs here) should look now. */
  onWebhookQueued?: () => void;
  /** Told of every route as it registers (method, URL); tests compare them with /openapi.json. */
  onRoute?: (route: { method: string; url: string }) => void;
  /** GET /metrics (routes/metrics.ts); absent = no such route (DARKROOM_METRICS=false). */
  metrics?: MetricsEndpoint;
  /** The file API (/api/v1/files, routes/uploads.ts); absent = no such routes. */
  fileApi?: FileApiDeps;
  /** Submissions' check of image_urls that link to uploads (SubmissionDeps). */
  checkImageUrls?: SubmissionDeps["checkImageUrls"];
  /** Where the built web console is (routes/console.ts); default dist/console. */
  console?: ConsoleRouteOptions;
}

export interface DarkroomApp {
  app: FastifyInstance;
  edge: Edge;
}

export function buildApp(deps: AppDeps): DarkroomApp {
  const gate = new AuthGate(deps.keys);
  const fastPaths: FastPath[] =
    deps.fastPaths === false
      ? []
      : [createPollFastPath({ ...deps, gate }), createSubmitFastPath({ ...deps, gate })];
  const { app, edge } = createListener(deps, fastPaths);
  const onRoute = deps.onRoute;
  if (onRoute) {
    app.addHook("onRoute", (r) => {
      for (const method of [r.method].flat()) onRoute({ method, url: r.url });
    });
  }
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
  app.addHook("onClose", (_instance, done) => {
    clearInterval(shareRpm);
    done();
  });
  healthRoutes(app, deps);
  openApiRoutes(app, deps);
  if (deps.metrics) metricsRoutes(app, deps.metrics);
  fileRoutes(app, deps);
  if (deps.fileApi) fileApiRoutes(app, gate, deps.fileApi);
  consoleRoutes(app, deps.console);

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
      adminTaskRoutes(admin, deps);
      adminStatsRoutes(admin, deps);
    },
    { prefix: "/admin/v1" },
  );
  return { app, edge };
}
