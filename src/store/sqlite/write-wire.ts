/** What the main thread and the writer thread say to each other. */
import type { WriteOp } from "./write-batch.js";

export type ThreadMessage = { type: "batch"; ops: WriteOp[] } | { type: "close" };

/** An error as it crosses threads: structured clone would keep the message but drop `code`. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

export type BatchReply =
  | { type: "ready" }
  | {
      type: "done";
      outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: WireError }>;
    }
  /** The batch's transaction could not commit: none of it is durable. */
  | { type: "failed"; error: WireError };

export function toWire(e: unknown): WireError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { name: "Error", message: String(e) };
}

export function fromWire(w: WireError): Error {
  const e = new Error(w.message);
  e.name = w.name;
  if (w.code !== undefined) (e as Error & { code?: string }).code = w.code;
  return e;
}
