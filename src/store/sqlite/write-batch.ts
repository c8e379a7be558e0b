/**
 * One group commit: every write of the moment — submissions, claims, channel marks,
 * progress, heartbeats, finishes, cancels, webhook deliveries' leases and attempts — in
 * one transaction, so they share one fsync.
 * Synchronous and free of scheduling, so the same code runs on the writer thread
 * (write-thread.ts) and, where there is none, inline (writer.ts decides).
 *
 * Order inside the transaction: the submissions first, decided together against running
 * totals (submit-batch.ts), then every other write in the order it was asked for. Nothing
 * else in a batch can depend on a submission of the same batch (its id is not known to
 * anyone yet), and running them first keeps the submissions' guarded UPDATEs of the key
 * and account rows valid; a claim after them may already take the tasks just inserted.
 *
 * Every write is a compare-and-set that reports what it found, so an ordinary outcome
 * (lease lost, nothing to cancel) is a value, not an error. A write that throws aborts
 * the whole transaction, which then runs again with each write in its own SAVEPOINT, so
 * only the write that broke fails.
 */
import type { Database } from "better-sqlite3";
import type { FailureCode } from "../../core/types.js";
import type {
  CancelResult,
  ClaimedTask,
  ExpiredTask,
  MarkResult,
  RequestCount,
  TaskOutcome,
  TrailEntry,
} from "../store.js";
import type { AttemptResultInput, ClaimedDelivery } from "../webhooks.js";
import { SqliteLeases } from "./claim.js";
import { SqliteFinisher } from "./finish.js";
import { SqliteOutboxWrites } from "./outbox-writes.js";
import { SqliteRates } from "./rates.js";
import { SqliteRetention } from "./retention.js";
import { SqliteTrail } from "./trail.js";
import { SubmitBatch, type SubmitRow, type WriteResult } from "./submit-batch.js";

/** A write as it is queued and sent to the writer thread: plain data only. */
export type WriteOp =
  | { kind: "submit"; row: SubmitRow }
  | {
      kind: "claim";
      owner: string;
      limit: number;
      leaseMs: number;
      nowMs: number;
      /** Per-model caps (free channel slots), as entries; null = uncapped. */
      budgets: Array<[string, number]> | null;
    }
  | {
      kind: "markChannel";
      taskId: string;
      leaseToken: string;
      channelId: string;
      cancellable: boolean;
      nowMs: number;
      maxInFlight: number | null;
    }
  | { kind: "release"; taskId: string; leaseToken: string; nowMs: number; trail?: TrailEntry[] }
  | {
      kind: "heartbeat";
      leases: Array<{ taskId: string; leaseToken: string }>;
      leaseMs: number;
      nowMs: number;
    }
  | { kind: "progress"; taskId: string; leaseToken: string; progress: number; nowMs: number }
  | {
      kind: "finish";
      taskId: string;
      leaseToken: string;
      outcome: TaskOutcome;
      nowMs: number;
      trail?: TrailEntry[];
    }
  | { kind: "cancel"; accountId: string; taskId: string; nowMs: number }
  | {
      kind: "expire";
      cutoffMs: number;
      limit: number;
      failure: { code: FailureCode; message: string };
      nowMs: number;
    }
  | { kind: "claimDeliveries"; limit: number; leaseMs: number; nowMs: number }
  | { kind: "recordAttempt"; input: AttemptResultInput }
  | { kind: "releaseDelivery"; id: string; leaseToken: string }
  | { kind: "purge"; createdBeforeMs: number; limit: number }
  | { kind: "shareRates"; added: RequestCount[]; dropBeforeMs: number };

/** What each kind of write answers. */
export interface WriteResults {
  submit: WriteResult;
  claim: ClaimedTask[];
  markChannel: MarkResult;
  release: boolean;
  heartbeat: { lost: string[]; cancelRequested: string[] };
  progress: boolean;
  finish: boolean;
  cancel: CancelResult;
  expire: ExpiredTask[];
  claimDeliveries: ClaimedDelivery[];
  recordAttempt: boolean;
  releaseDelivery: boolean;
  purge: number;
  shareRates: RequestCount[];
}

export type WriteOpOf<K extends WriteOp["kind"]> = Extract<WriteOp, { kind: K }>;

/** Per write: its answer, or the error that failed it alone. */
export type WriteOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class WriteBatch {
  private readonly submits: SubmitBatch;
  private readonly leases: SqliteLeases;
  private readonly finisher: SqliteFinisher;
  private readonly outbox: SqliteOutboxWrites;
  private readonly retention: SqliteRetention;
  private readonly rates: SqliteRates;
  private readonly trail: SqliteTrail;
  /** One write in its own SAVEPOINT (a nested transaction()), for the careful rerun. */
  private readonly isolated: (op: Exclude<WriteOp, { kind: "submit" }>) => unknown;

  constructor(private readonly db: Database) {
    this.submits = new SubmitBatch(db);
    this.leases = new SqliteLeases(db);
    this.finisher = new SqliteFinisher(db);
    this.outbox = new SqliteOutboxWrites(db);
    this.retention = new SqliteRetention(db);
    this.rates = new SqliteRates(db);
    this.trail = new SqliteTrail(db);
    this.isolated = db.transaction((op: Exclude<WriteOp, { kind: "submit" }>) => this.apply(op));
  }

  /**
   * Writes the batch in one transaction and returns one outcome per write, in order.
   * Throws only when the transaction as a whole could not commit: then none of it is
   * durable.
   */
  run(ops: readonly WriteOp[]): WriteOutcome[] {
    try {
      return this.runTogether(ops);
    } catch {
      return this.runIsolated(ops);
    }
  }

  private runTogether(ops: readonly WriteOp[]): WriteOutcome[] {
    const outcomes = new Array<WriteOutcome>(ops.length);
    this.db
      .transaction(() => {
        const at: number[] = [];
        const rows: SubmitRow[] = [];
        ops.forEach((op, i) => {
          if (op.kind === "submit") {
            at.push(i);
            rows.push(op.row);
          }
        });
        if (rows.length > 0)
          this.submits.decideAll(rows).forEach((value, k) => {
            outcomes[at[k]!] = { ok: true, value };
          });
        ops.forEach((op, i) => {
          if (op.kind !== "submit") outcomes[i] = { ok: true, value: this.apply(op) };
        });
      })
      .immediate();
    return outcomes;
  }

  private runIsolated(ops: readonly WriteOp[]): WriteOutcome[] {
    const outcomes = new Array<WriteOutcome>(ops.length);
    const one = (i: number, write: () => unknown) => {
      try {
        outcomes[i] = { ok: true, value: write() };
      } catch (error) {
        outcomes[i] = { ok: false, error };
      }
    };
    this.db
      .transaction(() => {
        ops.forEach((op, i) => {
          if (op.kind === "submit") one(i, () => this.submits.isolated(op.row));
        });
        ops.forEach((op, i) => {
          if (op.kind !== "submit") one(i, () => this.isolated(op));
        });
      })
      .immediate();
    return outcomes;
  }

  private apply(op: Exclude<WriteOp, { kind: "submit" }>): unknown {
    switch (op.kind) {
      case "claim":
        return this.leases.claim(
          op.owner,
          op.limit,
          op.leaseMs,
          op.nowMs,
          op.budgets ? new Map(op.budgets) : undefined,
        );
      case "markChannel":
        return this.leases.markChannel(
          op.taskId,
          op.leaseToken,
          op.channelId,
          op.cancellable,
          op.nowMs,
          op.maxInFlight,
        );
      case "release": {
        const released = this.leases.release(op.taskId, op.leaseToken, op.nowMs);
        if (released) this.trail.write(op.taskId, op.trail);
        return released;
      }
      case "heartbeat":
        return this.leases.heartbeat(op.leases, op.leaseMs, op.nowMs);
      case "progress":
        return this.leases.progress(op.taskId, op.leaseToken, op.progress, op.nowMs);
      case "finish": {
        const finished = this.finisher.finish(op.taskId, op.leaseToken, op.outcome, op.nowMs);
        if (finished) this.trail.write(op.taskId, op.trail);
        return finished;
      }
      case "cancel":
        return this.finisher.cancel(op.accountId, op.taskId, op.nowMs);
      case "expire":
        return this.finisher.expire(op.cutoffMs, op.limit, op.failure, op.nowMs);
      case "claimDeliveries":
        return this.outbox.claimDue(op.limit, op.leaseMs, op.nowMs);
      case "recordAttempt":
        return this.outbox.recordAttempt(op.input);
      case "releaseDelivery":
        return this.outbox.releaseLease(op.id, op.leaseToken);
      case "purge":
        return this.retention.purge(op.createdBeforeMs, op.limit);
      case "shareRates":
        return this.rates.share(op.added, op.dropBeforeMs);
    }
  }
}
