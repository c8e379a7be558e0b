/**
 * How the poll fast path answers: the same task JSON Schema compiled by the same
 * serialiser as the Fastify route, the same content type. The request id header is
 * already on the response, and the answer goes out at the end of the turn with the
 * others: both are the edge's doing (edge/edge.ts), as for every request.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import fastJsonStringify, { type Schema } from "fast-json-stringify";
import { taskSchema, type PublicTask } from "../../core/public-task.js";

/**
 * Returns true when it took the request (it answers it, or later calls `fallback`);
 * false means "give it to Fastify" now.
 */
export type FastPath = (req: IncomingMessage, res: ServerResponse, fallback: () => void) => boolean;

/** The task serialiser (the schema is declared `as const` for Fastify; the compiler wants a mutable copy). */
export function compileTaskSerializer(): (task: PublicTask) => string {
  return fastJsonStringify(structuredClone(taskSchema) as unknown as Schema);
}

/** Answers 200 with the task's JSON. */
export function sendTaskJson(res: ServerResponse, body: string): void {
  res.writeHead(200, [
    "content-type",
    "application/json; charset=utf-8",
    "content-length",
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}
