/**
 * The composition root: builds every service from the config, wires them, and
 * returns a handle that starts and stops them in order. `darkroom serve` and the
 * end-to-end tests both start the gateway through here.
 *
 * The role (DARKROOM_ROLE) decides what runs: `api` the HTTP API and admin API;
 * `worker` the runner and the callback dispatcher, listening only for /healthz and
 * /readyz; `all` everything. Several processes of any roles may share one store.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { ChannelRouter } from "../channels/router.js";
import { ConfigError, type Config } from "../config/config.js";
import { hashAdminToken } from "../core/credentials.js";
import { DurationEstimator } from "../core/estimate.js";
import { ModelCatalogue } from "../core/models.js";
import { buildApp, type AppDeps, type DarkroomApp } from "../http/app.js";
import { buildProbeApp } from "../http/probe-app.js";
import type { Edge, EdgeHooks } from "../http/edge/edge.js";
import { defaultConnectionLimits, openFileLimit } from "../http/edge/connection-limits.js";
import { KeyCache } from "../http/plugins/auth.js";
import { openMediaStorage, type OpenedMedia } from "../media/open.js";
import { configureSharp } from "../media/sharp-setup.js";
import { hostVerdict } from "../net/policy.js";
import { createSafeClient } from "../net/safe-request.js";
import { signFileUrl } from "../media/signed-url.js";
import { DarkroomEventBus } from "../obs/events.js";
import { createLogger } from "../obs/logger.js";
import { ProcessMonitor } from "../obs/process-monitor.js";
import type { Provider } from "../providers/contract.js";
import { ProviderRegistry } from "../providers/registry.js";
import { createGeminiProvider } from "../providers/gemini/index.js";
import { createArkProvider } from "../providers/ark/index.js";
import { createComfyUiProvider } from "../providers/comfyui/index.js";
import { createEvolinkProvider } from "../providers/evolink/index.js";
import { createOpenAIProvider } from "../providers/openai/index.js";
import { createSandboxProvider } from "../providers/sandbox/index.js";
import { createReferenceLoader } from "../media/reference-images.js";
import { createOwnImageSource } from "../media/uploads.js";
import { fileApiRoutesSettings } from "./file-api.js";
import type { FileStore } from "../store/files.js";
import { createPipeline } from "../runner/pipeline.js";
import { newRunnerOwner, Runner } from "../runner/runner.js";
import type { AdminStore } from "../store/admin.js";
import type { ChannelStore } from "../store/channels.js";
import { openStore } from "../store/open.js";
import type { Store } from "../store/store.js";
import type { WebhookStore } from "../store/webhooks.js";
import { WebhookDispatcher } from "../webhooks/dispatcher.js";
import { DEFAULT_RETENTION, Janitor } from "../retention/janitor.js";
import { safeWebhookSender } from "../webhooks/sender.js";
import { bootstrapIfEmpty, type BootstrapOutcome } from "./bootstrap.js";
import type { RemoteWorker } from "./worker-link.js";
import { startObservability } from "./observability.js";
import { shutdown, type ShutdownSummary } from "./shutdown.js";

export interface Darkroom {
  url: string;
  /** Where result links point: DARKROOM_PUBLIC_URL, or the address listened on. */
  publicUrl: string;
  config: Config;
  store: Store;
  admin: AdminStore;
  outbox: WebhookStore;
  channelStore: ChannelStore;
  /** Uploaded files (the file API). */
  files: FileStore;
  events: DarkroomEventBus;
  runner: Runner | null;
  /** The HTTP edge: connection counts, the request pipeline (http/edge/edge.ts). */
  edge: Edge;
  /** The callback outbox dispatcher (null with DARKROOM_WEBHOOKS=false). */
  webhooks: WebhookDispatcher | null;
  /** Deletes expired images, crash leftovers and old tasks (src/retention); null in an api process. */
  janitor: Janitor | null;
  bootstrap: BootstrapOutcome;
  log: Logger;
  /**
   * Stops in order (server/shutdown.ts): in-flight tasks and callback sends get
   * `graceMs` (default 0: aborted at once, handed back or left to their lease).
   * A second call gets the first call's result.
   */
  stop(graceMs?: number): Promise<ShutdownSummary>;
}

export interface StartOptions {
  /** Test hook: told of every route the API registers. */
  onRoute?: AppDeps["onRoute"];
  /** Test hook: providers registered next to the built-in ones (e.g. a scripted fake upstream). */
  extraProviders?: Provider[];
  /** Observers of every HTTP request (the edge's hook point; metrics will use it too). */
  edgeHooks?: EdgeHooks[];
  /** false: build everything but do not listen (the worker half on a thread of its own). */
  listen?: boolean;
  /**
   * Told at once when this start created the database's first credentials: they exist
   * from then on, and only their hashes are stored, so they must be shown even if the
   * start fails later (a port already in use).
   */
  onBootstrapped?: (outcome: BootstrapOutcome) => void;
  /**
   * The worker half runs on another thread (server/worker-thread.ts): submissions,
   * cancels and callback retries are handed to it, and its load and events read from it.
   */
  remoteWorker?: RemoteWorker;
  /** Where the built web console is served from (default dist/console; tests build their own). */
  consoleDir?: string;
}

export async function startDarkroom(
  config: Config,
  log: Logger = createLogger(config),
  opts: StartOptions = {},
): Promise<Darkroom> {
  configureSharp();
  let storage: OpenedMedia;
  try {
    storage = await openMediaStorage(config.storage, {
      dataDir: config.dataDir,
      log: log.child({ component: "storage" }),
    });
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  const media = storage.media;
  // The worker half on a thread of its own opens the same database: advise once.
  const stores = await openStore(config, log, { advise: opts.listen !== false }).catch(
    (err: unknown) => {
      storage.close();
      throw err;
    },
  );
  const { store, admin, outbox: webhookStore, channels: channelStore, files } = stores;
  const boot = await bootstrapIfEmpty(store, config);
  if (boot.created) opts.onBootstrapped?.(boot);
  // DARKROOM_ADMIN_TOKEN, when set, is the admin credential on every start (rotation = restart).
  if (config.adminToken && !boot.created)
    await admin.setAdminTokenHash(hashAdminToken(config.adminToken));
  const signingSecret = Buffer.from(
    config.signingSecret ??
      (await store.initSetting("signing_secret", randomBytes(32).toString("base64"))),
  );

  const catalogue = new ModelCatalogue(config.models);
  // Prices set through the admin API outlive restarts and win over the config file.
  for (const { model, priceMicros } of await admin.listModelPrices()) {
    const spec = catalogue.get(model);
    if (spec) spec.priceMicros = priceMicros;
  }
  const estimator = new DurationEstimator((m) => catalogue.get(m)?.defaultEstimatedSeconds ?? 45);
  const models = catalogue.list().map((m) => m.id);
  // Learnt from the whole deployment's completions, at start and then every few seconds.
  const learnDurations = async () =>
    estimator.replace((await store.recentDurations(models, 50)).reverse());
  await learnDurations();
  const learning = setInterval(() => {
    learnDurations().catch((err: unknown) => log.warn({ err }, "reading recent durations failed"));
  }, 10_000);
  learning.unref();

  const registry = new ProviderRegistry()
    .register(createSandboxProvider({ durationMs: config.sandbox.durationMs }))
    .register(createComfyUiProvider())
    .register(createOpenAIProvider())
    .register(createEvolinkProvider())
    .register(createArkProvider())
    .register(createGeminiProvider());
  for (const p of opts.extraProviders ?? []) registry.register(p);
  const events = new DarkroomEventBus();

  let router: ChannelRouter;
  // The runner's lease owner, also the router's: its calls are not counted twice.
  const runnerOwner = newRunnerOwner();
  try {
    // Throws on a config channel whose provider is unknown or refuses its settings.
    router = new ChannelRouter({
      ...(config.runner.enabled ? { owner: runnerOwner } : {}),
      registry,
      config: config.channels,
      store: channelStore,
      modelIds: () => catalogue.list().map((m) => m.id),
      modelParams: (m) => Object.keys(catalogue.get(m)?.modelParams ?? {}),
      log: log.child({ component: "channels" }),
    });
  } catch (err) {
    await stores.close();
    storage.close();
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  await router.start();

  const runner = config.runner.enabled
    ? new Runner(
        store,
        createPipeline({
          store,
          router,
          media,
          estimator,
          events,
          log,
          loadReferences: createReferenceLoader({
            client: createSafeClient(config.outbound),
            maxBytesFor: (model) => catalogue.get(model)?.maxReferenceBytes,
            // Our own uploads' links are read from storage, never fetched.
            ownImages: createOwnImageSource({
              publicBase: () => publicUrl,
              findLive: (id) => files.findLiveFile(id, Date.now()),
              media,
            }),
          }),
        }),
        {
          owner: runnerOwner,
          concurrency: config.runner.concurrency,
          leaseMs: config.runner.leaseSeconds * 1000,
          pollIntervalMs: config.runner.pollIntervalMs,
          claimBudgets: () => router.claimBudgets(),
          queueMaxWaitMs: config.queue.maxWaitMs,
          onExpired: (tasks) => {
            const at = Date.now();
            for (const t of tasks)
              events.emit("task:finished", {
                taskId: t.id,
                status: "failed",
                model: t.model,
                seconds: (at - t.createdMs) / 1000,
                code: "service_unavailable",
                accountId: t.accountId,
                attempt: 0,
                channel: null,
                chargeMicros: 0,
              });
          },
        },
        log.child({ component: "runner" }),
      )
    : null;
  router.onCapacity = () => runner?.wake();
  const remote = opts.remoteWorker;
  const wakeRunner = () => (runner ? runner.wake() : remote?.wake("tasks"));
  // Work queued by other processes: a hint from the backend when it has one (PostgreSQL).
  const unsubscribe = [
    runner ? stores.wakeups?.subscribe("tasks", () => runner.wake()) : undefined,
  ];

  // Links point at DARKROOM_PUBLIC_URL, or at the address actually listened on (port 0 in tests).
  let publicUrl = config.publicUrl ?? "";
  // Presigned S3 links expire when Darkroom's own would (DARKROOM_RESULT_URL_TTL from now).
  const directLink = storage.directLink;
  const signLink = (key: string) => {
    const expiresAt = Math.floor(Date.now() / 1000) + config.resultUrlTtlSeconds;
    return directLink
      ? directLink(key, expiresAt)
      : signFileUrl({ baseUrl: publicUrl, key, expiresAt, secret: signingSecret });
  };
  const allowHttp = config.webhooks.allowHttp;
  const dispatcher = config.webhooks.enabled
    ? new WebhookDispatcher(
        {
          webhooks: webhookStore,
          store,
          signLink,
          send: safeWebhookSender(
            createSafeClient(
              config.outbound,
              // The safe client adds `ca` to the default roots itself.
              config.webhooks.caPem ? { ca: config.webhooks.caPem } : {},
            ),
            { allowHttp },
          ),
          log: log.child({ component: "webhooks" }),
        },
        {
          concurrency: config.webhooks.concurrency,
          pollIntervalMs: config.runner.pollIntervalMs,
          leaseMs: 30_000,
          allowHttp,
        },
      )
    : null;
  events.on("task:finished", () => dispatcher?.wake());
  const wakeDispatcher = () => (dispatcher ? dispatcher.wake() : remote?.wake("callbacks"));
  const runnerLoad = () => {
    if (runner) return { inFlight: runner.activeCount, concurrency: config.runner.concurrency };
    const s = remote?.status();
    return s ? { inFlight: s.inFlight, concurrency: s.concurrency } : null;
  };
  if (dispatcher) dispatcher.onAttempt = (e) => events.emit("webhook:attempt", e);
  const obs = startObservability({
    config,
    events,
    log,
    store,
    router,
    models: () => catalogue.list().map((m) => m.id),
    runner: runnerLoad,
  });
  // The worker thread logs its own lifecycle; its events are counted here, where /metrics is.
  const unwatchRemote = remote && obs.metrics ? obs.metrics.watch(remote.events) : undefined;

  // Retention runs where tasks run.
  const janitor =
    config.role === "api" || remote
      ? null
      : new Janitor(
          { store, media, files, log: log.child({ component: "retention" }) },
          {
            ...DEFAULT_RETENTION,
            imageRetentionMs: config.retention.imageHours
              ? config.retention.imageHours * 3_600_000
              : null,
            taskRetentionMs: config.retention.taskDays
              ? config.retention.taskDays * 86_400_000
              : null,
          },
        );
  if (dispatcher) unsubscribe.push(stores.wakeups?.subscribe("callbacks", () => dispatcher.wake()));

  const monitor = new ProcessMonitor();
  const connectionDefaults = defaultConnectionLimits(openFileLimit(), config.trustProxy !== false);
  let shuttingDown = false;
  const notReady = () =>
    shuttingDown
      ? "The server is shutting down."
      : (runner && !runner.isRunning) || (remote && !remote.status()?.running)
        ? "The task runner is not running."
        : null;
  // A worker listens only so that an orchestrator can probe it: no API, no credentials.
  const buildHttp: (deps: AppDeps) => DarkroomApp =
    config.role === "worker" ? buildProbeApp : buildApp;
  const { app, edge } = buildHttp({
    store,
    admin,
    catalogue,
    registry,
    ...(opts.onRoute ? { onRoute: opts.onRoute } : {}),
    channels: router,
    channelAdmin: {
      router,
      store: channelStore,
      provider: (name) => registry.get(name),
      modelExists: (id) => catalogue.get(id) !== undefined,
      lookupEnv: config.channels.lookupEnv,
      now: Date.now,
    },
    media,
    estimator,
    queueMaxDepth: config.queue.maxDepth,
    ...fileApiRoutesSettings({
      config: config.files,
      files,
      media,
      outbound: createSafeClient(config.outbound),
      publicBase: () => publicUrl,
      secret: signingSecret,
    }),
    keys: new KeyCache(store, config.authCacheMs),
    signingSecret,
    signLink,
    webhooks: webhookStore,
    onWebhookQueued: wakeDispatcher,
    validateOptions: {
      allowHttpCallbacks: allowHttp,
      callbackHostVerdict: (host) => hostVerdict(config.outbound, host),
    },
    onCancelRequested: async (taskId) => {
      await (runner ? runner.cancel(taskId) : remote?.cancel(taskId));
    },
    onSubmitted: (task, requestId) => {
      // Test only (DARKROOM_TEST_CRASH_AFTER_COMMIT): die between the commit and the answer.
      const crashMarker = config.testCrashAfterCommit;
      if (crashMarker !== null && task.request.prompt.includes(crashMarker))
        process.kill(process.pid, "SIGKILL");
      events.emit("task:submitted", {
        taskId: task.id,
        model: task.model,
        accountId: task.accountId,
        keyId: task.apiKeyId,
        requestId,
        reservedMicros: task.creditsReservedMicros,
      });
      wakeRunner();
    },
    log,
    bodyLimitBytes: config.bodyLimitBytes,
    accessLog: config.accessLog,
    fastPaths: config.fastPaths,
    edgeHooks: [...obs.edgeHooks, ...(opts.edgeHooks ?? [])],
    metrics: obs.endpoint,
    ...(opts.consoleDir ? { console: { dir: opts.consoleDir } } : {}),
    connectionLimits: {
      total: config.edge.maxConnections ?? connectionDefaults.total,
      perAddress:
        config.edge.maxConnectionsPerAddress ??
        Math.min(connectionDefaults.perAddress, config.edge.maxConnections ?? Infinity),
    },
    requestDeadlines: {
      headersTimeoutMs: config.edge.headersTimeoutMs,
      requestTimeoutMs: config.edge.requestTimeoutMs,
      minBytesPerSecond: config.edge.minBytesPerSecond,
      graceMs: 5000,
      checkEveryMs: 1000,
    },
    trustProxy: config.trustProxy,
    monitor,
    role: config.role,
    notReady,
    runnerStatus: () => {
      const load = runnerLoad();
      return load ? { in_flight: load.inFlight, concurrency: load.concurrency } : null;
    },
  });

  const address =
    opts.listen === false ? "" : await app.listen({ host: config.host, port: config.port });
  if (!config.publicUrl && opts.listen !== false) {
    const a = app.server.address();
    const port = a && typeof a === "object" ? a.port : config.port;
    const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
    publicUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  // The first images after a start must not wait for the file writer's threads to load.
  if (runner) await media.warm?.();
  runner?.start();
  dispatcher?.start();
  janitor?.start();
  log.info(
    {
      address,
      role: config.role,
      dataDir: config.dataDir,
      runner: Boolean(runner),
      webhooks: Boolean(dispatcher),
    },
    // With its worker half on a thread, the process is ready when both halves are
    // (server/threaded.ts says so).
    remote
      ? "api thread is listening"
      : opts.listen === false
        ? "worker thread is ready"
        : "darkroom is ready",
  );

  let stopping: Promise<ShutdownSummary> | null = null;
  return {
    url: address,
    publicUrl,
    config,
    store,
    admin,
    outbox: webhookStore,
    channelStore,
    files,
    events,
    runner,
    edge,
    webhooks: dispatcher,
    janitor,
    bootstrap: boot,
    log,
    stop(graceMs = 0) {
      stopping ??= shutdown(
        {
          markNotReady: () => (shuttingDown = true),
          http: app,
          runner,
          dispatcher,
          quiesce: () => {
            for (const off of unsubscribe) off?.();
            unwatchRemote?.();
            clearInterval(learning);
            router.stop();
            monitor.stop();
            obs.stop();
          },
          closeStore: async () => {
            await janitor?.stop();
            await stores.close();
            storage.close();
          },
          log,
        },
        graceMs,
      );
      return stopping;
    },
  };
}
