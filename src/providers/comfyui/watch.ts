/**
 * Waits for one queued prompt to finish, reporting progress on the way.
 *
 * The websocket says what is happening (execution_start, execution_cached, executing,
 * progress, executed, execution_error, execution_interrupted, and `executing` with
 * node null when the prompt is done); /history is the record of what happened. So the
 * socket only decides *when* to read /history: at once when it reports the end, every
 * `pollIntervalMs` when there is no socket or it dropped, and now and then anyway in
 * case the socket silently stopped delivering.
 */
import type { ProviderError } from "../contract.js";
import type { ComfyEvent, ComfySocket, ComfyUiClient, HistoryEntry } from "./client.js";
import { executionError, interruptedError, type ExecutionErrorData } from "./errors.js";

/** /history reads that fail in a row before the upstream counts as gone. */
const MAX_POLL_FAILURES = 5;
/** With a live socket, /history is still read every this many poll intervals. */
const SAFETY_POLL_FACTOR = 5;

export interface PromptState {
  promptId: string;
  /** execution_start was seen: cancelling needs /interrupt rather than a queue delete. */
  started: boolean;
}

export interface WatchOptions {
  client: ComfyUiClient;
  socket: ComfySocket | null;
  state: PromptState;
  nodeCount: number;
  signal: AbortSignal;
  pollIntervalMs: number;
  /** 0..1, never decreasing, for this prompt. */
  onFraction(fraction: number): void;
}

export async function waitForPrompt(o: WatchOptions): Promise<HistoryEntry> {
  const progress = new NodeProgress(o.nodeCount);
  // Set from socket callbacks; the casts stop TypeScript narrowing them to their initial value.
  let failure = null as ProviderError | null;
  let endSignalled = false as boolean;
  let wake = () => {};

  o.socket?.listen(
    (e: ComfyEvent) => {
      const id = e.data.prompt_id;
      // Old ComfyUI versions omit prompt_id on progress; anything naming another prompt is not ours.
      if (id !== undefined && id !== o.state.promptId) return;
      if (id === undefined && e.type !== "progress") return;
      switch (e.type) {
        case "execution_start":
          o.state.started = true;
          break;
        case "execution_cached":
          if (Array.isArray(e.data.nodes)) progress.cached(e.data.nodes.map(String));
          break;
        case "executing":
          o.state.started = true;
          if (e.data.node == null) {
            endSignalled = true;
            wake();
          } else progress.executing(String(e.data.node));
          break;
        case "progress":
          progress.step(Number(e.data.value), Number(e.data.max));
          break;
        case "executed":
          if (e.data.node != null) progress.done(String(e.data.node));
          break;
        case "execution_success":
          endSignalled = true;
          wake();
          break;
        case "execution_error":
          failure = executionError(e.data as ExecutionErrorData);
          wake();
          break;
        case "execution_interrupted":
          failure = interruptedError();
          wake();
          break;
      }
      o.onFraction(progress.fraction());
    },
    () => wake(),
  );

  try {
    let failuresInRow = 0;
    let sinceRead = 0;
    for (;;) {
      if (failure) throw failure;
      const socketLive = o.socket !== null && !o.socket.closed;
      if (!socketLive || endSignalled || ++sinceRead >= SAFETY_POLL_FACTOR) {
        sinceRead = 0;
        try {
          const entry = await o.client.history(o.state.promptId, o.signal);
          failuresInRow = 0;
          if (entry) {
            const outcome = settled(entry);
            if (outcome === "success") {
              o.onFraction(1);
              return entry;
            }
            if (outcome) throw outcome;
          }
        } catch (err) {
          if (o.signal.aborted) throw o.signal.reason;
          if (isProviderError(err) && err.code !== "service_unavailable") throw err;
          if (++failuresInRow >= MAX_POLL_FAILURES) throw err;
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, o.pollIntervalMs);
        function done() {
          clearTimeout(timer);
          o.signal.removeEventListener("abort", done);
          resolve();
        }
        wake = done;
        o.signal.addEventListener("abort", done, { once: true });
      });
      if (o.signal.aborted) throw o.signal.reason;
    }
  } finally {
    o.socket?.unlisten();
  }
}

/** "success", a ProviderError for a failed prompt, or null while it is not finished. */
function settled(entry: HistoryEntry): "success" | ProviderError | null {
  const status = entry.status;
  // Very old ComfyUI versions write no status: an entry at all means the prompt is done.
  if (!status) return "success";
  if (status.status_str === "error") {
    for (const [type, data] of status.messages ?? []) {
      if (type === "execution_error") return executionError(data as ExecutionErrorData);
      if (type === "execution_interrupted") return interruptedError();
    }
    return executionError({});
  }
  return status.completed || status.status_str === "success" ? "success" : null;
}

function isProviderError(err: unknown): err is ProviderError {
  return err instanceof Error && err.name === "ProviderError";
}

/** Fraction of the graph's nodes done, counting the running node's sampler steps. */
class NodeProgress {
  private readonly finished = new Set<string>();
  private current: string | null = null;
  private stepFraction = 0;
  private best = 0;

  constructor(private readonly total: number) {}

  cached(nodes: string[]): void {
    for (const n of nodes) this.finished.add(n);
  }

  executing(node: string): void {
    if (this.current) this.finished.add(this.current);
    this.current = node;
    this.stepFraction = 0;
  }

  step(value: number, max: number): void {
    if (Number.isFinite(value) && Number.isFinite(max) && max > 0)
      this.stepFraction = Math.min(1, Math.max(0, value / max));
  }

  done(node: string): void {
    this.finished.add(node);
    if (this.current === node) this.stepFraction = 0;
  }

  fraction(): number {
    const running = this.current && !this.finished.has(this.current) ? this.stepFraction : 0;
    const f = Math.min(1, (this.finished.size + running) / Math.max(1, this.total));
    this.best = Math.max(this.best, f);
    return this.best;
  }
}
