/**
 * The ChannelRouter: which channel serves a model's next upstream call, and the live
 * accounting behind that choice — in-flight slots per channel, circuit breakers, the
 * recent call history shown by the admin API.
 *
 * Channels come from the config file (read-only), the `channels` table (admin API;
 * re-read after every admin change here and every `reloadMs` for changes made by
 * other processes) and, for a model with neither, the built-in sandbox channel (no
 * concurrency limit, no breaker) unless `sandbox_fallback` is false.
 *
 * Shared across processes (every `clusterSyncMs`, through the store): each channel's
 * calls in flight in the whole deployment, and its breaker. A process counts the others'
 * calls as of the last sync on top of its own, and the store has the last word: it
 * refuses to mark a task on a channel with no free slot anywhere (Store.markChannel).
 * A breaker transition here is written at once and read by every other process at its
 * next sync, so an API process answers from the deployment's view of a channel's
 * health, and a 429 seen by one worker holds the others back too. Between syncs each
 * process may let one probe of a half-open channel through.
 *
 * Capacity: the runner claims a model's tasks only while `claimBudgets()` says a
 * channel slot is free, so a saturated model's tasks stay pending (and unclaimed)
 * without blocking other models; a freed slot wakes the runner (`onCapacity`), and so
 * does an open breaker's cool-down ending (a timer per open channel), so queued tasks
 * start the moment a channel admits again, not at the next poll.
 *
 * An open breaker delays, it does not refuse (issue 14): while a model has an enabled,
 * usable channel, submissions are accepted and wait as pending (`queueOutlook()` tells
 * how long); only a model with none is unavailable.
 */
import type { Logger } from "pino";
import type { FailureCode } from "../core/types.js";
import {
  guaranteesOf,
  type ChannelGuarantees,
  type ChannelSettings,
  type Provider,
} from "../providers/contract.js";
import type { ProviderRegistry } from "../providers/registry.js";
import {
  breakerAdmits,
  breakerOnFailure,
  breakerOnNeutral,
  breakerOnStart,
  breakerOnSuccess,
  closedBreaker,
  currentBreaker,
  type BreakerState,
  type BreakerStateName,
} from "../core/breaker.js";
import type { ChannelStore } from "../store/channels.js";
import type { ChannelDefinition, ChannelSource } from "../core/channel-definition.js";
import { resolveSecret } from "../config/channel-secret.js";
import type { ChannelsConfig } from "../config/channels.js";
import { countsAgainstChannel } from "./fault.js";
import { providerProblem } from "./provider-check.js";
import { pickChannel } from "./select.js";
import { ChannelStats, type ChannelStatsView } from "./stats.js";

export interface LiveChannel {
  def: ChannelDefinition;
  source: ChannelSource;
  provider: Provider | undefined;
  /** Why the channel cannot serve (unknown provider, unreadable secret); null = usable. */
  problem: string | null;
  createdAt: number | null;
  updatedAt: number | null;
  /** Memory only. */
  apiKey: string | undefined;
}

interface Runtime {
  /** Calls this process has on the channel. */
  inFlight: number;
  /** Calls on the channel by other runners, at the last sync. */
  others: number;
  breaker: BreakerState;
  /** When `breaker` was last changed here or read from the store (unix ms). */
  breakerAt: number;
  /**
   * The last breaker write sent: writes go one after the other, so a later state never
   * lands before an earlier one (on a pool they would race, and a stale "probing" win).
   */
  saving: Promise<void>;
  stats: ChannelStats;
}

export interface ChannelHealth {
  state: BreakerStateName;
  in_flight: number;
  max_concurrency: number | null;
  open_until: number | null;
  problem: string | null;
}

/** An acquired slot on one channel; settle it exactly once. */
export interface ChannelLease {
  channel: ChannelSettings;
  provider: Provider;
  /** The channel's max_concurrency across the deployment (null: unlimited, the sandbox). */
  maxInFlight: number | null;
  succeeded(): void;
  /** A failed call; counted against the channel only for upstream/system faults. */
  failed(code: FailureCode, retryAfterMs?: number): void;
  /** The call ended without telling anything about the channel (cancel, shutdown). */
  abandoned(): void;
}

export type Availability = "available" | "unavailable";

/** What a submission to a model can expect to wait, from this process's view. */
export interface QueueOutlook {
  /** Until the first of its open channels admits a call again; 0 when one admits now. */
  reopensInMs: number;
  /** Calls its usable channels take at once (Infinity for the built-in sandbox). */
  slots: number;
}

interface Waiter {
  model: string;
  tried: ReadonlySet<string>;
  resolve: (lease: ChannelLease | null) => void;
}

export interface RouterDeps {
  registry: ProviderRegistry;
  config: ChannelsConfig;
  store: ChannelStore;
  /** The catalogue's model ids (for the built-in sandbox channels). */
  modelIds: () => readonly string[];
  /** The `model_params` a model declares, to check them against a channel's provider. */
  modelParams?: (model: string) => readonly string[];
  log: Logger;
  now?: () => number;
  random?: () => number;
  /** A slot freed or a channel changed: claimable work may exist again. */
  onCapacity?: () => void;
  /**
   * The lease owner of this process's runner, if it has one: its calls are counted
   * here as they start and end, so the shared count leaves them out.
   */
  owner?: string;
}

const BUILTIN_TIMEOUT_MS = 600_000;
/**
 * After a channel's `timeoutMs` (which the runner enforces, with its own grace), how
 * long before a probe nobody settled is presumed lost with its process.
 */
const PROBE_DEADLINE_GRACE_MS = 5_000;

/** The first of a model's parameters its provider would drop, if the provider says what it sends. */
function unsentParams(provider: Provider, declared: readonly string[]): string | undefined {
  const sent = provider.modelParams;
  return sent ? declared.find((p) => !sent.includes(p)) : undefined;
}

export class ChannelRouter {
  private live = new Map<string, LiveChannel>();
  private byModel = new Map<string, LiveChannel[]>();
  private readonly runtime = new Map<string, Runtime>();
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Per open channel: wakes the runner when its cool-down ends. */
  private readonly reopenTimers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;
  private readonly random: () => number;
  onCapacity: () => void;

  constructor(private readonly deps: RouterDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.onCapacity = deps.onCapacity ?? (() => {});
    for (const d of deps.config.definitions) {
      const provider = deps.registry.get(d.provider);
      if (!provider) {
        throw new Error(
          `config: channel "${d.id}": unknown provider "${d.provider}" (one of ${deps.registry.names().join(", ")})`,
        );
      }
      // Provider-specific settings (a comfyui workflow, ark's upstream_model) stop the boot.
      const bad = providerProblem(provider, d);
      if (bad) throw new Error(`config: channel "${d.id}": ${d.provider}: ${bad.message}`);
      const unsent = unsentParams(provider, deps.modelParams?.(d.model) ?? []);
      if (unsent)
        throw new Error(
          `config: channel "${d.id}": model "${d.model}" declares model_params.${unsent}, which provider ${d.provider} does not send (it sends ${provider.modelParams!.join(", ") || "none"})`,
        );
    }
  }

  /** Loads the channels and re-reads the admin-defined ones every `reloadMs`. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      this.reload().catch((err: unknown) => this.deps.log.warn({ err }, "channel reload failed"));
    }, this.deps.config.reloadMs);
    this.timer.unref();
    await this.syncCluster();
    this.syncTimer = setInterval(() => {
      this.syncCluster().catch((err: unknown) =>
        this.deps.log.warn({ err }, "reading the shared channel state failed"),
      );
    }, this.deps.config.clusterSyncMs);
    this.syncTimer.unref();
  }

  /**
   * Reads the deployment's shared channel state: calls in flight per channel in every
   * process, and breakers other processes changed since this one last looked.
   */
  async syncCluster(): Promise<void> {
    const limited = [...this.live.values()].filter((c) => c.source !== "builtin");
    if (limited.length === 0) return;
    const t = this.now();
    const [load, breakers] = await Promise.all([
      this.deps.store.channelLoad(
        limited.map((c) => c.def.id),
        t,
        this.deps.owner ?? null,
      ),
      this.deps.store.listBreakers(),
    ]);
    const before = new Map(limited.map((c) => [c.def.id, this.freeSlots(c, t)]));
    for (const c of limited) {
      const rt = this.rt(c);
      rt.others = load.get(c.def.id) ?? 0;
    }
    for (const b of breakers) {
      const c = this.live.get(b.channelId);
      if (!c || c.source === "builtin") continue;
      const rt = this.rt(c);
      if (b.updatedMs <= rt.breakerAt) continue;
      rt.breaker = b.state;
      rt.breakerAt = b.updatedMs;
      // Opened by another process: this one's queued tasks wait for it too.
      if (b.state.state === "open") this.wakeWhenReopened(c.def.id, b.state.openUntil);
    }
    if (limited.some((c) => this.freeSlots(c, t) > (before.get(c.def.id) ?? 0))) {
      this.serveWaiters();
      this.onCapacity();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    for (const t of this.reopenTimers.values()) clearTimeout(t);
    this.reopenTimers.clear();
    for (const w of this.waiters.splice(0)) w.resolve(null);
  }

  /** Rebuilds the channel set; in-flight counts and health survive (keyed by id). */
  async reload(): Promise<void> {
    const { config, registry } = this.deps;
    const live = new Map<string, LiveChannel>();
    for (const def of config.definitions) {
      live.set(def.id, {
        def,
        source: "config",
        provider: registry.get(def.provider),
        problem: null,
        createdAt: null,
        updatedAt: null,
        apiKey: config.secrets.get(def.id),
      });
    }
    for (const stored of await this.deps.store.listChannels()) {
      if (live.has(stored.id)) continue; // the file wins; the admin API refuses such ids anyway
      const { createdAt, updatedAt, ...def } = stored;
      const provider = registry.get(def.provider);
      const secret = resolveSecret(def, {
        [def.apiKeyEnv ?? ""]: config.lookupEnv(def.apiKeyEnv ?? ""),
      });
      // Written by another process (or an older version): checked again here, so a
      // channel its provider refuses is listed with the problem and skipped by routing.
      const bad = provider ? providerProblem(provider, def) : null;
      const problem = !provider
        ? `unknown provider ${def.provider}`
        : !secret.ok
          ? secret.why
          : bad
            ? `${def.provider}: ${bad.message}`
            : null;
      if (problem && problem !== this.live.get(def.id)?.problem)
        this.deps.log.warn({ channel: def.id, problem }, "channel not usable");
      live.set(def.id, {
        def,
        source: "admin",
        provider,
        problem,
        createdAt,
        updatedAt,
        apiKey: secret.ok ? secret.apiKey : undefined,
      });
    }
    const byModel = new Map<string, LiveChannel[]>();
    for (const c of live.values()) {
      const list = byModel.get(c.def.model) ?? [];
      list.push(c);
      byModel.set(c.def.model, list);
    }
    const sandbox = registry.get("sandbox");
    if (config.sandboxFallback && sandbox) {
      for (const model of this.deps.modelIds()) {
        if (byModel.has(model)) continue;
        const builtin = builtinChannel(model, sandbox);
        live.set(builtin.def.id, builtin);
        byModel.set(model, [builtin]);
      }
    }
    this.live = live;
    this.byModel = byModel;
    this.serveWaiters();
    this.onCapacity();
  }

  /**
   * For submissions: unavailable = no enabled, usable channel. Open breakers and full
   * channels do not make a model unavailable: its tasks wait (queueOutlook).
   */
  availability(model: string): Availability {
    return this.usable(model).length > 0 ? "available" : "unavailable";
  }

  /** How long a task of `model` submitted now waits for its channels, at least. */
  queueOutlook(model: string): QueueOutlook {
    const t = this.now();
    let reopensInMs = Infinity;
    let slots = 0;
    for (const c of this.usable(model)) {
      if (c.source === "builtin") return { reopensInMs: 0, slots: Infinity };
      slots += c.def.maxConcurrency;
      const b = currentBreaker(this.rt(c).breaker, t);
      // A probing half-open channel decides soon, either way: no wait is promised.
      reopensInMs = Math.min(reopensInMs, b.state === "open" ? b.openUntil - t : 0);
    }
    return { reopensInMs: Number.isFinite(reopensInMs) ? reopensInMs : 0, slots };
  }

  /**
   * Free slots per model, for the claim: a model absent from the map is not limited
   * (the built-in sandbox; or no usable channel at all, so its tasks are claimed and
   * failed with service_unavailable rather than held forever).
   */
  claimBudgets(): Map<string, number> {
    const budgets = new Map<string, number>();
    const t = this.now();
    for (const [model, channels] of this.byModel) {
      const usable = channels.filter((c) => this.isUsable(c));
      if (usable.length === 0 || usable.some((c) => c.source === "builtin")) continue;
      let free = 0;
      for (const c of usable) {
        free += this.freeSlots(c, t);
      }
      const waiting = this.waiters.filter((w) => w.model === model).length;
      budgets.set(model, Math.max(0, free - waiting));
    }
    return budgets;
  }

  /**
   * A slot on the best channel of `model` not yet `tried`. Waits (FIFO) while the
   * remaining channels are healthy but full; null when none is left to try (all
   * tried, open, disabled) or the signal aborts.
   */
  acquire(
    model: string,
    tried: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<ChannelLease | null> {
    const r = this.tryAcquire(model, tried);
    if (r !== "wait") return Promise.resolve(r);
    if (signal.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        model,
        tried,
        resolve: (lease) => {
          signal.removeEventListener("abort", onAbort);
          resolve(lease);
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(null);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Whether any enabled, usable channel serves the model (healthy or not). */
  hasUsableChannel(model: string): boolean {
    return this.usable(model).length > 0;
  }

  /**
   * What a call on this channel promises (crash recovery asks whether it is safe to
   * repeat); undefined for a channel this process does not know (anymore).
   */
  guaranteesOf(channelId: string): ChannelGuarantees | undefined {
    const c = this.live.get(channelId);
    return c?.provider ? guaranteesOf(c.provider, c.def.options) : undefined;
  }

  get(id: string): LiveChannel | undefined {
    return this.live.get(id);
  }

  list(): LiveChannel[] {
    return [...this.live.values()].sort(
      (a, b) =>
        a.def.model.localeCompare(b.def.model) ||
        a.def.priority - b.def.priority ||
        a.def.id.localeCompare(b.def.id),
    );
  }

  health(c: LiveChannel): ChannelHealth & ChannelStatsView {
    const rt = this.rt(c);
    const b = currentBreaker(rt.breaker, this.now());
    return {
      state: b.state,
      in_flight: this.busy(rt),
      max_concurrency: c.source === "builtin" ? null : c.def.maxConcurrency,
      open_until: b.state === "open" ? b.openUntil : null,
      problem: c.problem,
      ...rt.stats.view(),
    };
  }

  private usable(model: string): LiveChannel[] {
    return (this.byModel.get(model) ?? []).filter((c) => this.isUsable(c));
  }

  private isUsable(c: LiveChannel): boolean {
    return c.def.enabled && c.problem === null && c.provider !== undefined;
  }

  private rt(c: LiveChannel): Runtime {
    let rt = this.runtime.get(c.def.id);
    if (!rt) {
      rt = {
        inFlight: 0,
        others: 0,
        breaker: closedBreaker(),
        breakerAt: 0,
        saving: Promise.resolve(),
        stats: new ChannelStats(),
      };
      this.runtime.set(c.def.id, rt);
    }
    return rt;
  }

  /**
   * Calls on the channel in the whole deployment, as far as this process knows: its own
   * now, plus the other runners' at the last sync. Its own are never taken from the
   * shared count: a call that ended here but whose task's finish was not committed yet
   * still counts there, and read at the wrong moment would linger as a phantom call
   * until the next sync.
   */
  private busy(rt: Runtime): number {
    return rt.inFlight + rt.others;
  }

  /** Calls the channel can take now (0 while its breaker refuses; 1 probe when half-open). */
  private freeSlots(c: LiveChannel, t: number): number {
    const rt = this.rt(c);
    if (!breakerAdmits(rt.breaker, t)) return 0;
    const room = Math.max(0, c.def.maxConcurrency - this.busy(rt));
    return currentBreaker(rt.breaker, t).state === "half-open" ? Math.min(1, room) : room;
  }

  /** Records a breaker transition here and for every other process. */
  private setBreaker(c: LiveChannel, rt: Runtime, next: BreakerState): void {
    const changed =
      next.state !== rt.breaker.state ||
      next.consecutiveFailures !== rt.breaker.consecutiveFailures ||
      next.openUntil !== rt.breaker.openUntil ||
      next.probing !== rt.breaker.probing;
    rt.breaker = next;
    if (!changed) return;
    if (next.state === "open") this.wakeWhenReopened(c.def.id, next.openUntil);
    const t = this.now();
    rt.breakerAt = t;
    rt.saving = rt.saving
      .then(() => this.deps.store.saveBreaker(c.def.id, next, t))
      .catch((err: unknown) => {
        this.deps.log.warn({ err, channel: c.def.id }, "sharing a breaker change failed");
      });
  }

  private tryAcquire(model: string, tried: ReadonlySet<string>): ChannelLease | null | "wait" {
    const t = this.now();
    const remaining = this.usable(model).filter((c) => !tried.has(c.def.id));
    const admitting = remaining.filter((c) => breakerAdmits(this.rt(c).breaker, t));
    const free = admitting.filter(
      (c) => c.source === "builtin" || this.busy(this.rt(c)) < c.def.maxConcurrency,
    );
    const picked = pickChannel(
      free.map((c) => ({ id: c.def.id, priority: c.def.priority, weight: c.def.weight, c })),
      this.random,
    );
    if (picked) return this.lease(picked.c);
    // Healthy but full channels free up soon; open (or probing) ones are skipped.
    return admitting.length > 0 ? "wait" : null;
  }

  private lease(c: LiveChannel): ChannelLease {
    const rt = this.rt(c);
    const builtin = c.source === "builtin";
    rt.inFlight++;
    // A probe whose process dies is presumed lost once the call would have timed out.
    if (!builtin)
      this.setBreaker(
        c,
        rt,
        breakerOnStart(rt.breaker, this.now(), c.def.timeoutMs + PROBE_DEADLINE_GRACE_MS),
      );
    const started = this.now();
    let settled = false;
    const settle = (record: () => void) => {
      if (settled) return;
      settled = true;
      rt.inFlight--;
      record();
      this.serveWaiters();
      this.onCapacity();
    };
    const { def } = c;
    return {
      provider: c.provider!,
      maxInFlight: builtin ? null : def.maxConcurrency,
      channel: {
        id: def.id,
        provider: def.provider,
        ...(def.baseUrl ? { baseUrl: def.baseUrl } : {}),
        ...(c.apiKey ? { apiKey: c.apiKey } : {}),
        ...(def.upstreamModel ? { upstreamModel: def.upstreamModel } : {}),
        timeoutMs: def.timeoutMs,
        options: def.options,
      },
      succeeded: () =>
        settle(() => {
          const t = this.now();
          rt.stats.record({ ok: true, latencyMs: t - started, at: t });
          if (!builtin) this.setBreaker(c, rt, breakerOnSuccess(rt.breaker));
        }),
      failed: (code, retryAfterMs) =>
        settle(() => {
          const t = this.now();
          rt.stats.record({ ok: false, latencyMs: t - started, code, at: t });
          if (builtin) return;
          this.setBreaker(
            c,
            rt,
            countsAgainstChannel(code)
              ? breakerOnFailure(rt.breaker, t, this.deps.config.breaker, retryAfterMs)
              : breakerOnNeutral(rt.breaker, t),
          );
          if (rt.breaker.state === "open")
            this.deps.log.warn({ channel: def.id, code }, "channel circuit opened");
        }),
      abandoned: () =>
        settle(() => {
          if (!builtin) this.setBreaker(c, rt, breakerOnNeutral(rt.breaker, this.now()));
        }),
    };
  }

  /**
   * When an open channel's cool-down ends it admits a probe: wake the runner then, so
   * the model's queued tasks are claimed at once (no poll, no busy loop). One timer per
   * channel, replaced when the breaker opens again.
   */
  private wakeWhenReopened(channelId: string, openUntil: number): void {
    clearTimeout(this.reopenTimers.get(channelId));
    const timer = setTimeout(
      () => {
        this.reopenTimers.delete(channelId);
        // Timers and the wall clock may disagree by a millisecond: look again if so.
        const b = this.runtime.get(channelId)?.breaker;
        if (b && currentBreaker(b, this.now()).state === "open")
          return this.wakeWhenReopened(channelId, b.openUntil);
        this.serveWaiters();
        this.onCapacity();
      },
      Math.max(0, openUntil - this.now()),
    );
    timer.unref();
    this.reopenTimers.set(channelId, timer);
  }

  private serveWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters.splice(0)) {
      const r = this.tryAcquire(w.model, w.tried);
      if (r === "wait") still.push(w);
      else w.resolve(r);
    }
    this.waiters = still.concat(this.waiters);
  }
}

function builtinChannel(model: string, sandbox: Provider): LiveChannel {
  return {
    def: {
      id: `sandbox:${model}`,
      model,
      provider: "sandbox",
      baseUrl: null,
      apiKeyEnv: null,
      apiKeyFile: null,
      upstreamModel: null,
      priority: 0,
      weight: 1,
      maxConcurrency: Number.MAX_SAFE_INTEGER,
      timeoutMs: BUILTIN_TIMEOUT_MS,
      enabled: true,
      options: {},
    },
    source: "builtin",
    provider: sandbox,
    problem: null,
    createdAt: null,
    updatedAt: null,
    apiKey: undefined,
  };
}
