/**
 * The one seam between Darkroom and its SQL database. Everything above this file
 * (HTTP, runner, CLI) speaks these methods; each backend (store/sqlite, later
 * store/postgres) implements them, store/open.ts opens the configured one, and
 * test/contract runs one suite over every backend.
 *
 * Every method that changes money or a task's state is one transaction. Writes made
 * on behalf of a claimed task carry `(taskId, leaseToken)` and report `false` when
 * the lease is gone (another runner owns the task now): the caller stops and writes
 * nothing more.
 */
import type { ListQuery } from "../core/paging.js";
import type { PublicTaskSource } from "../core/public-task.js";
import type { TaskPosition } from "../core/task-cursor.js";
import type {
  FailureCode,
  GenerationRequest,
  Micros,
  StoredImage,
  TaskStatus,
} from "../core/types.js";

/** The identity behind an API key, as the HTTP layer needs it on every request. */
export interface KeyPrincipal {
  keyId: string;
  accountId: string;
  groupName: string;
  multiplierPpm: number;
  /** null = every model. */
  allowedModels: string[] | null;
  /** null = unlimited (only the account balance applies). */
  creditLimitMicros: Micros | null;
  rpmLimit: number | null;
  maxConcurrent: number | null;
  /** Unix seconds; null = never. */
  expiresAt: number | null;
  revoked: boolean;
  accountDisabled: boolean;
}

/**
 * What a poll needs: the public fields of a task, read with a narrow projection.
 * `cancellable` is false once the upstream serving the task can no longer be stopped
 * (task_info.can_cancel).
 */
export interface TaskView extends PublicTaskSource {
  results: StoredImage[];
}

/** The whole task, as the runner needs it. */
export interface TaskRecord extends TaskView {
  /** When it was submitted, unix ms (`createdAt` is the same instant in seconds). */
  createdMs: number;
  accountId: string;
  apiKeyId: string;
  finishedAt: number | null;
  request: GenerationRequest;
  cancelRequested: boolean;
  attempts: number;
  /** The channel the last attempt used (null until one was chosen). */
  channelId: string | null;
}

export interface SubmitInput {
  taskId: string;
  principal: KeyPrincipal;
  request: GenerationRequest;
  reserveMicros: Micros;
  priceMicros: Micros;
  estimatedSeconds: number;
  nowMs: number;
  idempotency: { key: string; requestHash: string } | null;
  /**
   * Replay an idempotent earlier submission, but create nothing: the route would refuse
   * a new task (model not allowed, no upstream), yet a client retrying a submission
   * that did go through must still get its task back.
   */
  replayOnly?: boolean;
  /**
   * The model's queue (issue 14): at most `maxQueued` of its tasks may be pending at
   * once (null or absent = no limit); a submission that would exceed it creates nothing
   * and answers `queue_full`. The created task's estimate grows with the model's tasks
   * already pending (`ahead`), one round of `roundSeconds` per `slots` of them (the
   * channels' capacity): `estimatedSeconds + floor(ahead / slots) × roundSeconds`
   * (slots 0 or absent = no growth).
   */
  queue?: { maxQueued: number | null; slots: number; roundSeconds: number };
}

export type SubmitResult =
  | { kind: "created"; task: TaskRecord }
  | { kind: "replayed"; task: TaskRecord }
  | { kind: "idempotency_conflict" }
  | { kind: "insufficient_balance" }
  | { kind: "key_limit_exceeded" }
  | { kind: "too_many_active_tasks" }
  /** The model already has `queue.maxQueued` tasks pending. */
  | { kind: "queue_full" }
  /** replayOnly and there was nothing to replay. */
  | { kind: "not_created" };

/** Requests counted for one key in one window (a minute starting at windowStartMs). */
export interface RequestCount {
  keyId: string;
  windowStartMs: number;
  n: number;
}

/** What retention needs to know of a task to tell its image files from leftovers. */
export interface TaskImages {
  finished: boolean;
  keys: string[];
}

/** A task handed to a runner, fenced by its lease token. */
export interface ClaimedTask {
  task: TaskRecord;
  leaseToken: string;
  priceMicros: Micros;
  multiplierPpm: number;
}

export type TaskOutcome =
  | { kind: "completed"; images: StoredImage[]; chargeMicros: Micros }
  | { kind: "failed"; code: FailureCode; message: string };

export type MarkResult = "ok" | "lease_lost" | "cancel_requested" | "channel_full";

/** A pending task failed by expirePending: it waited too long for a channel. */
export interface ExpiredTask {
  id: string;
  accountId: string;
  model: string;
  createdMs: number;
}

/**
 * One step of a task's trail, as the runner saw it (task_attempts): kept in memory
 * while the task runs and written by the finish or hand-back that ends the claim, in
 * the same transaction, so recording it adds no commit.
 */
export interface TrailEntry {
  kind: "claimed" | "upstream_attempt" | "handed_back" | "cancel_requested";
  atMs: number;
  /** upstream_attempt: when the call ended. */
  endedMs?: number | null;
  channelId?: string | null;
  /** upstream_attempt: "ok", "error" or "aborted". */
  outcome?: string | null;
  errorCode?: string | null;
}

/** cancelled: a pending task, failed and refunded now; requested: the runner will stop it. */
export type CancelResult = "cancelled" | "requested" | "not_cancellable";

export interface CreditsView {
  account: { balanceMicros: Micros; heldMicros: Micros; usedMicros: Micros };
  key: { creditLimitMicros: Micros | null; heldMicros: Micros; usedMicros: Micros };
}

export interface AccountBalance {
  accountId: string;
  balanceMicros: Micros;
  heldMicros: Micros;
  usedMicros: Micros;
}

export interface BootstrapInput {
  nowMs: number;
  adminTokenHash: string;
  accountName: string;
  groupName: string;
  groups: Array<{ name: string; multiplierPpm: number }>;
  apiKey: { id: string; hash: string; prefix: string };
  creditsMicros: Micros;
  webhookSecret: string;
}

/**
 * One page of an account's tasks, newest first (created time, then id, both
 * descending), optionally filtered. `start` is a page number (page × pageSize within
 * PAGE_DEPTH: deeper is a caller error and throws) or the position of the last task of
 * the previous page, at any depth. Either way the cost is O(pageSize), not O(tasks).
 */
export interface TaskListQuery extends ListQuery<TaskPosition> {
  status: TaskStatus | null;
  model: string | null;
}

export interface TaskPage {
  data: TaskView[];
  /** Every task of the account that matches the filters, exact. */
  total: number;
  /** The position to continue after; null when this page is the last. */
  next: TaskPosition | null;
}

/** One model's tasks in one active status (Store.activeTaskCounts); models with none are left out. */
export interface ActiveTaskCount {
  model: string;
  status: "pending" | "processing";
  count: number;
}

/** Opened, migrated and closed by the factory (store/open.ts), with its sibling stores. */
export interface Store {
  /** Key-value settings that must survive restarts (signing secret, admin token hash). */
  getSetting(key: string): Promise<string | null>;
  /** Sets the value only if absent; returns the value in force. */
  initSetting(key: string, value: string): Promise<string>;

  /** True when no account exists yet (first start). */
  isEmpty(): Promise<boolean>;
  /** First start: groups, the `default` account, its first key and its credits, at once. */
  bootstrap(input: BootstrapInput): Promise<void>;
  /** Keeps configured groups in the database (multiplier changes apply to new tasks). */
  upsertGroups(
    groups: Array<{ name: string; multiplierPpm: number }>,
    nowMs: number,
  ): Promise<void>;

  findKeyByHash(hash: string): Promise<KeyPrincipal | null>;

  submitTask(input: SubmitInput): Promise<SubmitResult>;
  /** A poll: one indexed read of the public fields, scoped to the account. */
  getTask(accountId: string, taskId: string): Promise<TaskView | null>;
  /**
   * The same read, synchronously, for backends whose reads are synchronous (SQLite);
   * the poll fast path uses it when present and saves a promise per poll.
   */
  getTaskNow?(accountId: string, taskId: string): TaskView | null;
  getBalance(accountId: string): Promise<AccountBalance | null>;
  getCredits(accountId: string, keyId: string): Promise<CreditsView | null>;
  cancelTask(accountId: string, taskId: string, nowMs: number): Promise<CancelResult>;

  /** Claims up to `limit` runnable tasks: pending ones, and processing ones whose lease lapsed. */
  claimTasks(
    owner: string,
    limit: number,
    leaseMs: number,
    nowMs: number,
    /** Per-model caps on this claim (free channel slots); models absent are not capped. */
    modelBudgets?: ReadonlyMap<string, number>,
  ): Promise<ClaimedTask[]>;
  /**
   * Records the channel a claimed task is about to call, and whether that upstream can
   * still be stopped. Refused ("cancel_requested") when a cancel got in first, so a
   * cancel and a non-cancellable start cannot both win; refused ("channel_full") when
   * the channel has no free slot in the whole deployment.
   */
  markChannel(
    taskId: string,
    leaseToken: string,
    channelId: string,
    cancellable: boolean,
    nowMs: number,
    /**
     * The channel's max_concurrency across every process: refused ("channel_full") when
     * that many other tasks are marked on it with a live lease. null = no limit.
     */
    maxInFlight?: number | null,
  ): Promise<MarkResult>;
  /**
   * Gives a claimed task back without counting the attempt (no channel could take it):
   * its lease lapses at once, so a later claim picks it up in its turn.
   */
  releaseTask(
    taskId: string,
    leaseToken: string,
    nowMs: number,
    /** This claim's trail, written with the release (nothing when the lease is lost). */
    trail?: readonly TrailEntry[],
  ): Promise<boolean>;
  /** A page of the account's tasks, newest first (see TaskListQuery). */
  listTasks(accountId: string, q: TaskListQuery): Promise<TaskPage>;
  /** Extends the leases held; returns the ids whose lease is lost (or that were asked to cancel). */
  heartbeat(
    owner: string,
    leases: Array<{ taskId: string; leaseToken: string }>,
    leaseMs: number,
    nowMs: number,
  ): Promise<{ lost: string[]; cancelRequested: string[] }>;
  reportProgress(
    taskId: string,
    leaseToken: string,
    progress: number,
    nowMs: number,
  ): Promise<boolean>;
  /** Terminal move + settlement (+ callback outbox row), once, fenced by the lease. */
  finishTask(
    taskId: string,
    leaseToken: string,
    outcome: TaskOutcome,
    nowMs: number,
    /** This claim's trail, written with the finish (nothing when the lease is lost). */
    trail?: readonly TrailEntry[],
  ): Promise<boolean>;
  /**
   * Retention: for each of these tasks that exists, whether it has finished and the
   * keys of the images it lists. Called with at most a few hundred ids.
   */
  imagesOfTasks(taskIds: readonly string[]): Promise<Map<string, TaskImages>>;
  /**
   * Retention: deletes up to `limit` finished tasks created before `createdBeforeMs`,
   * oldest first, with their idempotency keys and their delivered or failed callbacks
   * (a callback still being delivered keeps its task). Ledger entries stay: the bill
   * outlives the task. Returns how many tasks it deleted.
   */
  purgeTasks(createdBeforeMs: number, limit: number): Promise<number>;
  /**
   * Fails up to `limit` tasks that are still `pending` (never claimed, so no upstream was
   * called) and were submitted before `cutoffMs`, oldest first, with `failure`: each is
   * the same terminal move as a cancel of a pending task — a compare-and-set on the
   * status, the whole hold released (ledger: capture 0, release all), the callback's
   * outbox row — so a claim or a cancel racing with it wins or loses whole, never both.
   * Safe to call from every process at once. Returns the tasks it failed.
   */
  expirePending(
    cutoffMs: number,
    limit: number,
    failure: { code: FailureCode; message: string },
    nowMs: number,
  ): Promise<ExpiredTask[]>;
  /**
   * How many tasks of `model` are pending (queued for a channel), from a count the
   * store keeps as tasks move: O(1), never a count over tasks.
   */
  queuedTasks(model: string): Promise<number>;
  /**
   * Per-key request counts shared by the deployment's API processes (rpm limits): adds
   * each `n` to its key's window, then answers the totals of these keys' windows (the
   * given ones and the ones before them). Windows older than `dropBeforeMs` go.
   */
  shareRequestCounts(added: readonly RequestCount[], dropBeforeMs: number): Promise<RequestCount[]>;
  /**
   * Tasks waiting (`pending`) and running (`processing`) per model, over every account
   * and process: the queue depth a metrics scrape reads. Must stay cheap at any number
   * of tasks: summed from kept counts (task_counts), never a COUNT over the tasks.
   */
  activeTaskCounts(): Promise<ActiveTaskCount[]>;
  /**
   * Recent completed durations (seconds) of each of `models`, newest first, to seed
   * estimates at start: O(models × limit), never a scan of the task history.
   */
  recentDurations(
    models: readonly string[],
    limitPerModel: number,
  ): Promise<Array<{ model: string; seconds: number }>>;
}
