/**
 * Configuration: environment variables plus one optional JSON file (DARKROOM_CONFIG),
 * validated once at boot. A bad value stops the process with a message naming the
 * variable; secrets are read here and never logged.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { BUILTIN_MODELS, type ModelSpec } from "../core/models.js";
import { fileModelSchema, loadModels } from "./model-file.js";
import { parseOutboundAllow, type OutboundPolicy } from "../net/policy.js";
import { parseCredits, ppmFromMultiplier } from "../core/money.js";
import { channelFileFields, loadChannelsConfig, type ChannelsConfig } from "./channels.js";
import { loadStorageConfig, type StorageConfig } from "./storage.js";

export interface GroupConfig {
  name: string;
  multiplierPpm: number;
}

/**
 * What this process runs: `api` the HTTP API (no runner, no callbacks), `worker` the
 * runner and the callback dispatcher (HTTP only for /healthz and /readyz), `all` both.
 */
export type ProcessRole = "api" | "worker" | "all";
export const PROCESS_ROLES: readonly ProcessRole[] = ["api", "worker", "all"];

export interface Config {
  /** DARKROOM_ROLE (or `darkroom serve --role`). */
  role: ProcessRole;
  /** How long `darkroom serve` lets in-flight work finish after SIGTERM/SIGINT. */
  shutdownGraceMs: number;
  /**
   * DARKROOM_WORKER_THREAD: `darkroom serve` in role `all` runs its worker half (runner,
   * callbacks, retention) on a thread of its own, so a busy runner leaves the API its
   * event loop. false: everything on one event loop.
   */
  workerThread: boolean;
  /**
   * DARKROOM_WORKER_NICE: the nice value the worker half runs at (its thread in role
   * `all`, the whole process in role `worker`), so that on a shared machine the API's
   * threads win the CPU when both want it; 0 leaves the priority alone.
   */
  workerNice: number;
  host: string;
  port: number;
  /** Base of the links put in `results` (no trailing slash); null = the address listened on. */
  publicUrl: string | null;
  dataDir: string;
  /** SQLite file path (the embedded default, used when databaseUrl is null). */
  sqlitePath: string;
  /** PostgreSQL (`postgres://…`) instead of the SQLite file. */
  databaseUrl: string | null;
  /**
   * Test only (the chaos run): an API process SIGKILLs itself right after committing a
   * new task whose prompt contains this marker, before answering. null (unset) = off.
   */
  testCrashAfterCommit: string | null;
  /** PostgreSQL connections per process. */
  databasePoolMax: number;
  adminToken: string | null;
  bootstrapApiKey: string | null;
  bootstrapCreditsMicros: number;
  signingSecret: string | null;
  resultUrlTtlSeconds: number;
  /** Where result images live: files under dataDir (default) or an S3 bucket (config/storage.ts). */
  storage: StorageConfig;
  bodyLimitBytes: number;
  logLevel: string;
  accessLog: boolean;
  /** Answer plain polls and submissions before the framework (http/fast-paths/); off only to measure them. */
  fastPaths: boolean;
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (auth throttling,
   * logs): false (default), true (any), a hop count, or addresses/CIDRs.
   */
  trustProxy: boolean | number | string[];
  /** Limits at the edge (src/http/edge): connections, and how long a request may take to arrive. */
  edge: {
    /** Open connections in total; null = below the process's file-handle limit. */
    maxConnections: number | null;
    /** Open connections from one address; null = an eighth of the total (all of it behind a proxy). */
    maxConnectionsPerAddress: number | null;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    /** A body must arrive at least this fast on average, after a 5 s grace. */
    minBytesPerSecond: number;
  };
  runner: {
    /** The role runs a runner (worker, all) and DARKROOM_RUNNER is not false. */
    enabled: boolean;
    concurrency: number;
    leaseSeconds: number;
    pollIntervalMs: number;
  };
  sandbox: { durationMs: number };
  /** What the janitor deletes (src/retention); 0 = keep for ever. */
  retention: { imageHours: number; taskDays: number };
  /**
   * The file API (docs/files.md): uploads expire `ttlHours` after upload; one is at most
   * `maxBytes`; an account holds at most `quotaFiles` files and `quotaBytes` bytes
   * (null = no limit).
   */
  files: {
    ttlHours: number;
    maxBytes: number;
    quotaFiles: number | null;
    quotaBytes: number | null;
  };
  /**
   * Tasks waiting for a channel (issue 14): per model at most `maxDepth` pending (more
   * submissions: 503), each for at most `maxWaitMs` (then failed, refunded). null = no limit.
   */
  queue: { maxDepth: number | null; maxWaitMs: number | null };
  /** Where user-chosen URLs (reference images, callbacks) may lead: DARKROOM_OUTBOUND_ALLOW (src/net/policy.ts). */
  outbound: OutboundPolicy;
  /** Callback delivery (src/webhooks). */
  webhooks: {
    /** Run the outbox dispatcher here: the role runs one (worker, all) and DARKROOM_WEBHOOKS is not false. */
    enabled: boolean;
    /** Accept and send plain-http callback URLs (DARKROOM_ALLOW_HTTP_CALLBACKS); https only otherwise. */
    allowHttp: boolean;
    /** Extra CA certificates (PEM) trusted for callback TLS, added to the system roots. */
    caPem: string | null;
    /** Deliveries one dispatcher sends at once. */
    concurrency: number;
  };
  models: ModelSpec[];
  groups: GroupConfig[];
  /** Upstream channels from the config file, routing settings (src/config/channels.ts). */
  channels: ChannelsConfig;
  /** Key-lookup cache lifetime; bounds how long a revoked key may still work on another process. */
  authCacheMs: number;
  /** GET /metrics (DARKROOM_METRICS), and the bearer token it asks for (DARKROOM_METRICS_TOKEN). */
  metrics: { enabled: boolean; token: string | null };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const intFrom = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((v) => v >= min && v <= max, `${name} must be between ${min} and ${max}`);

const boolFrom = (name: string) =>
  z
    .enum(["1", "0", "true", "false", "yes", "no", "on", "off"], {
      errorMap: () => ({ message: `${name} must be true or false` }),
    })
    .transform((v) => ["1", "true", "yes", "on"].includes(v));

const QUEUE_MAX_DEPTH_LIMIT = 100_000_000;
/** A week: a task older than that in a queue is a mistake, not a plan. */
const QUEUE_MAX_WAIT_LIMIT_MS = 7 * 24 * 3600 * 1000;

const fileSchema = z
  .object({
    models: z.array(fileModelSchema).optional(),
    groups: z
      .array(z.object({ name: z.string().min(1), multiplier: z.union([z.string(), z.number()]) }))
      .optional(),
    ...channelFileFields,
    queue: z
      .object({
        max_depth: z.number().int().min(0).max(QUEUE_MAX_DEPTH_LIMIT).optional(),
        max_wait_ms: z.number().int().min(0).max(QUEUE_MAX_WAIT_LIMIT_MS).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type Env = Record<string, string | undefined>;

/** DARKROOM_TRUST_PROXY: true/false, a hop count, or comma-separated addresses/CIDRs. */
function parseTrustProxy(raw: string | undefined): boolean | number | string[] {
  const v = raw?.trim();
  if (!v || ["false", "0", "no", "off"].includes(v)) return false;
  if (["true", "yes", "on"].includes(v)) return true;
  if (/^\d+$/.test(v)) return Number(v);
  const items = v
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = items.find((x) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(x));
  if (bad !== undefined) {
    throw new ConfigError(
      `DARKROOM_TRUST_PROXY must be true, false, a hop count or addresses/CIDRs (got "${bad}")`,
    );
  }
  return items;
}

function parseEnvValue<T>(
  env: Env,
  name: string,
  schema: z.ZodType<T, z.ZodTypeDef, string>,
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const r = schema.safeParse(raw);
  if (!r.success) throw new ConfigError(r.error.issues[0]?.message ?? `${name} is invalid`);
  return r.data;
}

/** The file API's expiry, size cap and per-account quota (0 = no limit). */
function loadFiles(env: Env): Config["files"] {
  const int = (name: string, min: number, max: number, fallback: number) =>
    parseEnvValue(env, name, intFrom(name, min, max), fallback);
  const quotaFiles = int("DARKROOM_FILES_QUOTA_FILES", 0, 100_000_000, 2000);
  const quotaBytes = int("DARKROOM_FILES_QUOTA_BYTES", 0, Number.MAX_SAFE_INTEGER, 1024 ** 3);
  return {
    ttlHours: int("DARKROOM_FILES_TTL_HOURS", 1, 8760, 72),
    maxBytes: int("DARKROOM_FILES_MAX_BYTES", 1024, 100 * 1024 * 1024, 10 * 1024 * 1024),
    quotaFiles: quotaFiles === 0 ? null : quotaFiles,
    quotaBytes: quotaBytes === 0 ? null : quotaBytes,
  };
}

/** Image and task retention; images must outlive the links made to them. */
function loadRetention(env: Env, resultUrlTtlSeconds: number): Config["retention"] {
  const imageHours = parseEnvValue(
    env,
    "DARKROOM_IMAGE_RETENTION_HOURS",
    intFrom("DARKROOM_IMAGE_RETENTION_HOURS", 0, 1_000_000),
    168,
  );
  const taskDays = parseEnvValue(
    env,
    "DARKROOM_TASK_RETENTION_DAYS",
    intFrom("DARKROOM_TASK_RETENTION_DAYS", 0, 100_000),
    0,
  );
  if (imageHours > 0 && imageHours * 3600 < resultUrlTtlSeconds) {
    throw new ConfigError(
      `DARKROOM_IMAGE_RETENTION_HOURS (${imageHours} h) is shorter than DARKROOM_RESULT_URL_TTL ` +
        `(${resultUrlTtlSeconds} s): result links would outlive their images`,
    );
  }
  return { imageHours, taskDays };
}

function loadGroups(file: z.infer<typeof fileSchema> | null): GroupConfig[] {
  const groups = new Map<string, GroupConfig>([
    ["default", { name: "default", multiplierPpm: 1_000_000 }],
  ]);
  for (const g of file?.groups ?? []) {
    const ppm = ppmFromMultiplier(g.multiplier);
    if (ppm === null || ppm < 0)
      throw new ConfigError(`config: group "${g.name}" has an invalid multiplier`);
    groups.set(g.name, { name: g.name, multiplierPpm: ppm });
  }
  return [...groups.values()];
}

function readConfigFile(file: string | undefined): z.infer<typeof fileSchema> | null {
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`DARKROOM_CONFIG: cannot read ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`DARKROOM_CONFIG: ${file} is not valid JSON`);
  }
  const r = fileSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(`DARKROOM_CONFIG: ${issue?.path.join(".") || "file"}: ${issue?.message}`);
  }
  return r.data;
}

function parseOutboundPolicy(text: string | undefined): OutboundPolicy {
  try {
    return parseOutboundAllow(text);
  } catch (err) {
    throw new ConfigError(`DARKROOM_OUTBOUND_ALLOW: ${(err as Error).message}`);
  }
}

function readPemFile(file: string | undefined): string | null {
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`DARKROOM_WEBHOOK_CA_FILE: cannot read ${file}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----"))
    throw new ConfigError(`DARKROOM_WEBHOOK_CA_FILE: ${file} holds no PEM certificate`);
  return text;
}

/**
 * The queue's limits: the file's `queue` section, each value overridden by its
 * variable; 0 = no limit. Defaults: 10,000 tasks per model, 10 minutes.
 */
function loadQueueConfig(
  env: Env,
  file: z.infer<typeof fileSchema> | null,
): { maxDepth: number | null; maxWaitMs: number | null } {
  const depth = parseEnvValue(
    env,
    "DARKROOM_QUEUE_MAX_DEPTH",
    intFrom("DARKROOM_QUEUE_MAX_DEPTH", 0, QUEUE_MAX_DEPTH_LIMIT),
    file?.queue?.max_depth ?? 10_000,
  );
  const waitMs = parseEnvValue(
    env,
    "DARKROOM_QUEUE_MAX_WAIT_MS",
    intFrom("DARKROOM_QUEUE_MAX_WAIT_MS", 0, QUEUE_MAX_WAIT_LIMIT_MS),
    file?.queue?.max_wait_ms ?? 600_000,
  );
  return { maxDepth: depth === 0 ? null : depth, maxWaitMs: waitMs === 0 ? null : waitMs };
}

function parseRole(raw: string | undefined): ProcessRole {
  const v = raw?.trim() || "all";
  if (!(PROCESS_ROLES as readonly string[]).includes(v))
    throw new ConfigError(`DARKROOM_ROLE must be one of ${PROCESS_ROLES.join(", ")} (got "${v}")`);
  return v as ProcessRole;
}

export function loadConfig(env: Env = process.env): Config {
  const role = parseRole(env.DARKROOM_ROLE);
  // The older switches still turn a part off within its role (DARKROOM_RUNNER=false on
  // `all` is an API process that also sends callbacks).
  const runnerSwitch = parseEnvValue(env, "DARKROOM_RUNNER", boolFrom("DARKROOM_RUNNER"), true);
  const webhooksSwitch = parseEnvValue(
    env,
    "DARKROOM_WEBHOOKS",
    boolFrom("DARKROOM_WEBHOOKS"),
    true,
  );
  const runnerEnabled = role !== "api" && runnerSwitch;
  const webhooksEnabled = role !== "api" && webhooksSwitch;
  if (role === "worker" && !runnerEnabled && !webhooksEnabled) {
    throw new ConfigError(
      "DARKROOM_ROLE=worker with DARKROOM_RUNNER=false and DARKROOM_WEBHOOKS=false leaves the worker nothing to do",
    );
  }
  const host = env.HOST || "127.0.0.1";
  const port = parseEnvValue(env, "PORT", intFrom("PORT", 0, 65535), 8080);
  const dataDir = path.resolve(env.DARKROOM_DATA_DIR || "./data");
  const file = readConfigFile(env.DARKROOM_CONFIG);
  const models = loadModels(BUILTIN_MODELS, file?.models ?? [], (m) => new ConfigError(m));
  const credits = env.DARKROOM_BOOTSTRAP_CREDITS ?? "100";
  const bootstrapCreditsMicros = parseCredits(credits);
  if (bootstrapCreditsMicros === null) {
    throw new ConfigError("DARKROOM_BOOTSTRAP_CREDITS must be a non-negative decimal number");
  }
  const apiKey = env.DARKROOM_BOOTSTRAP_API_KEY || null;
  if (apiKey !== null && !/^sk-[A-Za-z0-9_-]{32,}$/.test(apiKey)) {
    throw new ConfigError(
      "DARKROOM_BOOTSTRAP_API_KEY must be sk- followed by at least 32 URL-safe characters",
    );
  }
  const adminToken = env.DARKROOM_ADMIN_TOKEN || null;
  if (adminToken !== null && adminToken.length < 24) {
    throw new ConfigError("DARKROOM_ADMIN_TOKEN must be at least 24 characters");
  }
  const metricsToken = env.DARKROOM_METRICS_TOKEN || null;
  if (metricsToken !== null && !/^\S{16,}$/.test(metricsToken)) {
    throw new ConfigError("DARKROOM_METRICS_TOKEN must be at least 16 characters, without spaces");
  }
  const publicUrl = env.DARKROOM_PUBLIC_URL ? env.DARKROOM_PUBLIC_URL.replace(/\/+$/, "") : null;
  if (publicUrl !== null && !/^https?:\/\/[^/]+(\/.*)?$/.test(publicUrl)) {
    throw new ConfigError("DARKROOM_PUBLIC_URL must be an http(s) URL");
  }
  if (role === "worker" && webhooksEnabled && publicUrl === null) {
    // Else the result links in its callbacks would point at its own probe port.
    throw new ConfigError(
      "DARKROOM_ROLE=worker sends callbacks with result links: set DARKROOM_PUBLIC_URL to the API's public address",
    );
  }
  const resultUrlTtlSeconds = parseEnvValue(
    env,
    "DARKROOM_RESULT_URL_TTL",
    intFrom("DARKROOM_RESULT_URL_TTL", 60, 31_536_000),
    86_400,
  );
  const retention = loadRetention(env, resultUrlTtlSeconds);
  return {
    role,
    workerThread: parseEnvValue(
      env,
      "DARKROOM_WORKER_THREAD",
      boolFrom("DARKROOM_WORKER_THREAD"),
      true,
    ),
    workerNice: parseEnvValue(
      env,
      "DARKROOM_WORKER_NICE",
      intFrom("DARKROOM_WORKER_NICE", 0, 19),
      10,
    ),
    shutdownGraceMs: parseEnvValue(
      env,
      "DARKROOM_SHUTDOWN_GRACE_MS",
      intFrom("DARKROOM_SHUTDOWN_GRACE_MS", 0, 3_600_000),
      25_000,
    ),
    host,
    port,
    publicUrl,
    dataDir,
    sqlitePath: path.join(dataDir, "darkroom.sqlite"),
    databaseUrl: env.DATABASE_URL || null,
    testCrashAfterCommit: env.DARKROOM_TEST_CRASH_AFTER_COMMIT || null,
    databasePoolMax: parseEnvValue(
      env,
      "DARKROOM_DB_POOL_MAX",
      intFrom("DARKROOM_DB_POOL_MAX", 1, 1000),
      10,
    ),
    adminToken,
    bootstrapApiKey: apiKey,
    bootstrapCreditsMicros,
    signingSecret: env.DARKROOM_SIGNING_SECRET || null,
    resultUrlTtlSeconds,
    storage: loadStorageConfig(
      env,
      resultUrlTtlSeconds,
      (message) => new ConfigError(message),
      (name) => parseEnvValue(env, name, boolFrom(name), false),
    ),
    bodyLimitBytes: parseEnvValue(
      env,
      "DARKROOM_BODY_LIMIT",
      intFrom("DARKROOM_BODY_LIMIT", 1024, 64 * 1024 * 1024),
      1024 * 1024,
    ),
    logLevel: env.LOG_LEVEL || "info",
    accessLog: parseEnvValue(env, "DARKROOM_ACCESS_LOG", boolFrom("DARKROOM_ACCESS_LOG"), false),
    fastPaths: parseEnvValue(env, "DARKROOM_FAST_PATHS", boolFrom("DARKROOM_FAST_PATHS"), true),
    trustProxy: parseTrustProxy(env.DARKROOM_TRUST_PROXY),
    edge: {
      maxConnections: parseEnvValue<number | null>(
        env,
        "DARKROOM_MAX_CONNECTIONS",
        intFrom("DARKROOM_MAX_CONNECTIONS", 1, 10_000_000),
        null,
      ),
      maxConnectionsPerAddress: parseEnvValue<number | null>(
        env,
        "DARKROOM_MAX_CONNECTIONS_PER_ADDRESS",
        intFrom("DARKROOM_MAX_CONNECTIONS_PER_ADDRESS", 1, 10_000_000),
        null,
      ),
      headersTimeoutMs: parseEnvValue(
        env,
        "DARKROOM_HEADERS_TIMEOUT_MS",
        intFrom("DARKROOM_HEADERS_TIMEOUT_MS", 1000, 600_000),
        10_000,
      ),
      requestTimeoutMs: parseEnvValue(
        env,
        "DARKROOM_REQUEST_TIMEOUT_MS",
        intFrom("DARKROOM_REQUEST_TIMEOUT_MS", 1000, 3_600_000),
        60_000,
      ),
      minBytesPerSecond: parseEnvValue(
        env,
        "DARKROOM_MIN_REQUEST_BYTES_PER_SECOND",
        intFrom("DARKROOM_MIN_REQUEST_BYTES_PER_SECOND", 0, 100_000_000),
        1024,
      ),
    },
    runner: {
      enabled: runnerEnabled,
      concurrency: parseEnvValue(
        env,
        "DARKROOM_RUNNER_CONCURRENCY",
        intFrom("DARKROOM_RUNNER_CONCURRENCY", 1, 10_000),
        // Tasks mostly wait on their upstream (seconds to minutes): 8 capped a process at
        // a few tasks a second against real upstreams. Each channel's max_concurrency
        // is what protects an upstream.
        64,
      ),
      leaseSeconds: parseEnvValue(
        env,
        "DARKROOM_LEASE_SECONDS",
        intFrom("DARKROOM_LEASE_SECONDS", 2, 3600),
        30,
      ),
      pollIntervalMs: parseEnvValue(
        env,
        "DARKROOM_POLL_INTERVAL_MS",
        intFrom("DARKROOM_POLL_INTERVAL_MS", 10, 60_000),
        500,
      ),
    },
    outbound: parseOutboundPolicy(env.DARKROOM_OUTBOUND_ALLOW),
    webhooks: {
      enabled: webhooksEnabled,
      allowHttp: parseEnvValue(
        env,
        "DARKROOM_ALLOW_HTTP_CALLBACKS",
        boolFrom("DARKROOM_ALLOW_HTTP_CALLBACKS"),
        false,
      ),
      caPem: readPemFile(env.DARKROOM_WEBHOOK_CA_FILE),
      concurrency: parseEnvValue(
        env,
        "DARKROOM_WEBHOOK_CONCURRENCY",
        intFrom("DARKROOM_WEBHOOK_CONCURRENCY", 1, 1000),
        16,
      ),
    },
    sandbox: {
      durationMs: parseEnvValue(
        env,
        "DARKROOM_SANDBOX_DURATION_MS",
        intFrom("DARKROOM_SANDBOX_DURATION_MS", 0, 600_000),
        3000,
      ),
    },
    retention,
    files: loadFiles(env),
    queue: loadQueueConfig(env, file),
    models,
    groups: loadGroups(file),
    channels: loadChannelsConfig(
      file,
      models.map((m) => m.id),
      env,
      (message) => new ConfigError(message),
    ),
    authCacheMs: parseEnvValue(
      env,
      "DARKROOM_AUTH_CACHE_MS",
      intFrom("DARKROOM_AUTH_CACHE_MS", 0, 600_000),
      5000,
    ),
    metrics: {
      enabled: parseEnvValue(env, "DARKROOM_METRICS", boolFrom("DARKROOM_METRICS"), true),
      token: metricsToken,
    },
  };
}
