/**
 * A submission as every backend writes it: flat, with the request already serialised,
 * and the record of the task it created, built from the input (no read-back).
 */
import type { SubmitInput, TaskRecord } from "./store.js";

/** An idempotency key binds its first task this long; after it, the key may be reused. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * A submission as a writer needs it: flat, and with the request already serialised,
 * so it crosses to SQLite's writer thread (or into PostgreSQL's JSON) cheaply.
 */
export interface SubmitRow {
  taskId: string;
  accountId: string;
  keyId: string;
  groupName: string;
  multiplierPpm: number;
  model: string;
  n: number;
  requestJson: string;
  callbackUrl: string | null;
  reserveMicros: number;
  priceMicros: number;
  estimatedSeconds: number;
  nowMs: number;
  idemKey: string | null;
  idemHash: string | null;
  replayOnly: boolean;
  /** The model's queue depth limit (null = none) and how its estimate grows (SubmitInput.queue). */
  maxQueued: number | null;
  queueSlots: number;
  queueRoundSeconds: number;
}

export function toSubmitRow(input: SubmitInput): SubmitRow {
  const { principal: p, request: req } = input;
  return {
    taskId: input.taskId,
    accountId: p.accountId,
    keyId: p.keyId,
    groupName: p.groupName,
    multiplierPpm: p.multiplierPpm,
    model: req.model,
    n: req.n,
    requestJson: JSON.stringify(req),
    callbackUrl: req.callbackUrl,
    reserveMicros: input.reserveMicros,
    priceMicros: input.priceMicros,
    estimatedSeconds: input.estimatedSeconds,
    nowMs: input.nowMs,
    idemKey: input.idempotency?.key ?? null,
    idemHash: input.idempotency?.requestHash ?? null,
    replayOnly: input.replayOnly === true,
    maxQueued: input.queue?.maxQueued ?? null,
    queueSlots: input.queue?.slots ?? 0,
    queueRoundSeconds: input.queue?.roundSeconds ?? 0,
  };
}

/**
 * The record of a task this input created, built from what was written: no read-back.
 * `estimatedSeconds`: what the write settled on (the input's, plus the queue ahead).
 */
export function createdTask(
  input: SubmitInput,
  estimatedSeconds = input.estimatedSeconds,
): TaskRecord {
  const { principal: p, request: req } = input;
  return {
    id: input.taskId,
    model: req.model,
    status: "pending",
    progress: 0,
    createdAt: Math.floor(input.nowMs / 1000),
    createdMs: input.nowMs,
    userGroup: p.groupName,
    creditsReservedMicros: input.reserveMicros,
    creditsUsedMicros: null,
    estimatedSeconds,
    results: [],
    errorCode: null,
    errorMessage: null,
    cancellable: true,
    accountId: p.accountId,
    apiKeyId: p.keyId,
    finishedAt: null,
    request: req,
    cancelRequested: false,
    attempts: 0,
    channelId: null,
  };
}
