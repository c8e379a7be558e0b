/**
 * The edge: the one request pipeline. Every HTTP request passes through `handle` first,
 * whichever handler then answers it (the poll fast path or Fastify's router), and every
 * connection through the limits at accept. The cross-cutting steps are defined here,
 * once, in this order (EDGE_STEPS):
 *
 *   connection-limits  at accept: caps per client address and in total (429 / 503)
 *   request-id         the caller's sane `x-request-id` or a new one, on the response
 *                      and on every log line about the request
 *   shutdown           once the server is closing: 503 JSON with `Connection: close`;
 *                      answers to requests already in flight say `Connection: close` too
 *   deadline           the body must arrive in time and at a minimum rate: 408 JSON
 *   access-log         one redacted line per request (DARKROOM_ACCESS_LOG)
 *   hooks              observers of every request and its outcome (metrics, CORS)
 *   turn-batching      every answer of an event-loop turn is written at its end, together
 *                      (turn-batched-response.ts: the server's ServerResponse class)
 *
 * Then `dispatch`. A handler never repeats a step: it reads the request id with
 * `requestIdOf` and names its route and itself with `setRoute`; the rest is done here.
 * test/e2e/request-pipeline.test.ts checks each step on each path.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { ApiError } from "../../core/errors.js";
import { redactUrl } from "../../obs/redact.js";
import { requestIdFrom } from "../request-id.js";
import { ConnectionLimits, isRefused, type ConnectionLimitOptions } from "./connection-limits.js";
import { answerError, answerOnSocket } from "./raw-answer.js";
import { RequestDeadlines, type DeadlineOptions } from "./request-deadline.js";
import { TurnBatch } from "./turn-batched-response.js";

export const EDGE_STEPS = [
  "connection-limits",
  "request-id",
  "shutdown",
  "deadline",
  "access-log",
  "hooks",
  "turn-batching",
] as const;

export type EdgeStep = (typeof EDGE_STEPS)[number];

/** What the edge knows about a request in flight; hooks receive it. */
export interface EdgeRequest {
  readonly id: string;
  readonly method: string;
  /** The request target with secret query values redacted (safe to log or label). */
  readonly url: string;
  /** The route pattern that took it (e.g. `/v1/tasks/:taskId`); null until one does (404s). */
  route: string | null;
  /** What answered it: "framework" (Fastify's router) or a fast path's name; null for the edge. */
  handler: string | null;
  readonly remoteAddress: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** Set when the edge itself answered or cut the request (408, 503). */
  edgeStatus: number | null;
}

export interface RequestOutcome {
  status: number;
  durationMs: number;
  /** The connection closed before the answer was fully written. */
  aborted: boolean;
}

export interface EdgeHooks {
  /** Runs before dispatch; return true when the hook answered the request itself (CORS preflight). */
  onRequest?(r: EdgeRequest, req: IncomingMessage, res: ServerResponse): boolean | void;
  onResponse?(r: EdgeRequest, outcome: RequestOutcome): void;
}

export interface EdgeOptions {
  log: Logger;
  accessLog: boolean;
  connections: ConnectionLimitOptions;
  deadlines: DeadlineOptions;
}

const EDGE = Symbol("darkroom.edgeRequest");

type Marked = IncomingMessage & { [EDGE]?: EdgeRequest };

/** The request id the edge gave `req` (a fresh one if the edge never saw it). */
export function requestIdOf(req: IncomingMessage): string {
  return (req as Marked)[EDGE]?.id ?? requestIdFrom(req.headers["x-request-id"]);
}

/** Names the route pattern and the handler that took `req`, for the access log and the hooks. */
export function setRoute(req: IncomingMessage, route: string, handler: string): void {
  const r = (req as Marked)[EDGE];
  if (r) {
    r.route = route;
    r.handler = handler;
  }
}

export class Edge {
  readonly connections: ConnectionLimits;
  readonly deadlines: RequestDeadlines;
  private readonly batch: TurnBatch;
  private readonly hooks: EdgeHooks[] = [];
  private closing = false;
  /** Whether anyone wants to hear how requests end (skip the listener otherwise). */
  private observed: boolean;

  constructor(private readonly options: EdgeOptions) {
    this.connections = new ConnectionLimits(options.connections);
    this.deadlines = new RequestDeadlines(options.deadlines);
    this.batch = new TurnBatch((err) =>
      options.log.error({ err }, "an answer could not be written"),
    );
    this.observed = options.accessLog;
  }

  /** Registers observers for every request (the hook point for metrics and CORS). */
  addHooks(hooks: EdgeHooks): void {
    this.hooks.push(hooks);
    if (hooks.onResponse) this.observed = true;
  }

  /** The response class the server must use (`createServer({ ServerResponse })`). */
  responseClass(): typeof ServerResponse {
    return this.batch.responseClass();
  }

  /** Counts and caps `server`'s connections (call before it listens). */
  attach(server: Server): void {
    this.connections.attach(server);
  }

  /** From now on, requests are refused with 503 and their connections closed. */
  close(): void {
    this.closing = true;
    // Requests already in flight: their answers end their connections, so a draining
    // server is not held open by clients' idle keep-alive connections.
    this.batch.endConnections();
    this.deadlines.stop();
  }

  handle(req: IncomingMessage, res: ServerResponse, dispatch: () => void): void {
    // A connection refused at accept may still deliver a request it had already sent.
    if (isRefused(req.socket)) {
      req.socket.destroy();
      return;
    }
    // turn-batching: the end-of-turn flush goes ahead of what handling schedules
    this.batch.arm();
    // request-id
    const r: EdgeRequest = {
      id: requestIdFrom(req.headers["x-request-id"]),
      method: req.method ?? "GET",
      url: redactUrl(req.url ?? "/"),
      route: null,
      handler: null,
      remoteAddress: req.socket.remoteAddress ?? "",
      startedAt: performance.now(),
      edgeStatus: null,
    };
    (req as Marked)[EDGE] = r;
    res.setHeader("x-request-id", r.id);
    // access-log and hooks learn how it ended
    if (this.observed) res.once("close", () => this.finished(r, res));
    // shutdown
    if (this.closing) {
      r.edgeStatus = 503;
      answerError(
        res,
        new ApiError("service_unavailable", "The server is shutting down; retry the request."),
        true,
      );
      return;
    }
    // deadline
    if (RequestDeadlines.expectsBody(req)) {
      this.deadlines.track(req, (why) => this.late(r, req, res, why));
    }
    // hooks
    for (const h of this.hooks) if (h.onRequest?.(r, req, res) === true) return;
    dispatch();
  }

  private late(
    r: EdgeRequest,
    req: IncomingMessage,
    res: ServerResponse,
    why: "timeout" | "too_slow",
  ): void {
    // Answered already (a fast path does not wait for a body): just stop the trickle.
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    r.edgeStatus = 408;
    // Straight onto the socket, then closed: the handler waiting for the body sees the
    // connection go, and anything it writes later goes nowhere.
    answerOnSocket(
      req.socket,
      new ApiError(
        "invalid_request",
        why === "timeout"
          ? "The request was not received in time."
          : "The request body arrived too slowly.",
        { status: 408 },
      ),
      r.id,
    );
  }

  private finished(r: EdgeRequest, res: ServerResponse): void {
    const outcome: RequestOutcome = {
      status: r.edgeStatus ?? res.statusCode,
      durationMs: Math.round((performance.now() - r.startedAt) * 1000) / 1000,
      aborted: r.edgeStatus === null && !res.writableFinished,
    };
    if (this.options.accessLog) {
      this.options.log.info(
        {
          reqId: r.id,
          method: r.method,
          url: r.url,
          route: r.route,
          handler: r.handler,
          status: outcome.status,
          ms: outcome.durationMs,
          remoteAddress: r.remoteAddress,
          ...(outcome.aborted ? { aborted: true } : {}),
        },
        "request",
      );
    }
    for (const h of this.hooks) h.onResponse?.(r, outcome);
  }
}
