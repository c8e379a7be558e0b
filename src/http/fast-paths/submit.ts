/**
 * The submission fast path: a plain `POST /v1/images/generations` answered by the
 * edge's dispatch straight from node:http, before Fastify's router, hook chain, body
 * parser and reply machinery. Like every request it has been through the edge's steps
 * first (edge/edge.ts); this file only decides the submission.
 *
 * Why: a submission's own work is small (validate, price, one batched durable write on
 * the writer thread), so the framework's fixed cost is a large part of what the event
 * loop spends on one: without this path, submissions cost ~22 µs more CPU each and
 * lost a fifth of their rate (BENCHMARKS.md has the A/B, run in every benchmark).
 *
 * Either it declines at the headers and Fastify gets the request untouched, or it
 * takes the request and answers every outcome itself: it never hands a read body over.
 * It takes only plain submissions: a JSON body of a sane declared length, a key the
 * auth cache vouches for with no rpm limit, no Idempotency-Key. It decides with the
 * very functions the route uses (the same JSON parser, prepareSubmission, refusalFor,
 * the same serialiser and error body), so its answers are the route's;
 * test/e2e/submit-fast-path.test.ts sends the same bodies down both paths and compares.
 * A store that fails is answered 500 and logged, never retried: a store cannot always
 * tell "failed" from "committed, but the answer was lost".
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { ApiError } from "../../core/errors.js";
import { taskView, type LinkSigner } from "../../core/public-task.js";
import type { Store, TaskRecord } from "../../store/store.js";
import { requestIdOf, setRoute } from "../edge/edge.js";
import { answerError } from "../edge/raw-answer.js";
import { parseJsonBody } from "../json-body.js";
import type { AuthGate } from "../plugins/auth.js";
import { prepareSubmission, refusalFor, type SubmissionDeps } from "../submission.js";
import { compileTaskSerializer, sendTaskJson, type FastPath } from "./respond.js";

const PATH = "/v1/images/generations";
/** The route this path stands in for (what logs and metrics call it). */
export const SUBMIT_ROUTE = "/v1/images/generations";
/** The spellings clients send; any other (another charset, say) is Fastify's to judge. */
const JSON_TYPES = new Set([
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=utf-8",
]);

export interface SubmitFastPathDeps extends SubmissionDeps {
  store: Pick<Store, "submitTask">;
  gate: AuthGate;
  signLink: LinkSigner;
  onSubmitted: (task: TaskRecord, requestId: string) => void;
  bodyLimitBytes: number;
  log: Pick<Logger, "error">;
}

export function createSubmitFastPath(deps: SubmitFastPathDeps): FastPath {
  const serialize = compileTaskSerializer();
  return (req, res) => {
    if (req.method !== "POST" || req.url !== PATH) return false;
    const h = req.headers;
    if (h["idempotency-key"] !== undefined || h["transfer-encoding"] !== undefined) return false;
    const type = h["content-type"];
    if (type === undefined || !JSON_TYPES.has(type.toLowerCase())) return false;
    // node's parser has checked the header is a number and delivers exactly that many bytes.
    const length = Number(h["content-length"]);
    if (!(length > 0 && length <= deps.bodyLimitBytes)) return false;
    const principal = deps.gate.peekAdmissible(h.authorization, Date.now());
    if (!principal) return false;
    setRoute(req, SUBMIT_ROUTE, "submit-fast-path");

    readBody(req, (raw) => {
      const failed = (err: unknown) => {
        deps.log.error({ err, reqId: requestIdOf(req) }, "unhandled error");
        answer(res, new ApiError("internal_error"));
      };
      try {
        const parsed = parseJsonBody(raw.toString("utf8"));
        if (!parsed.ok) return answer(res, parsed.error);
        const prepared = prepareSubmission(parsed.value, principal, deps, null, Date.now());
        if (!prepared.ok) return answer(res, prepared.error);
        if (prepared.refusal) return answer(res, prepared.refusal);
        const submit = () =>
          deps.store.submitTask(prepared.input).then((result) => {
            if (result.kind === "created") {
              deps.onSubmitted(result.task, requestIdOf(req));
              sendTaskJson(res, serialize(taskView(result.task, deps.signLink)));
            } else if (result.kind === "replayed") {
              // Only an Idempotency-Key replays, and those are the route's.
              failed(new Error("the store replayed a submission that had no idempotency key"));
            } else {
              answer(res, refusalFor(result, null, prepared.retryAfterSeconds));
            }
          }, failed);
        // Links to our own uploads are checked against the store first (one read per
        // link); a plain submission goes straight to the write, as before.
        const urls = prepared.input.request.imageUrls;
        if (deps.checkImageUrls && urls.length > 0) {
          deps
            .checkImageUrls(principal.accountId, urls, Date.now())
            .then((bad) => (bad ? answer(res, bad) : submit()), failed);
        } else {
          void submit();
        }
      } catch (err) {
        failed(err);
      }
    });
    return true;
  };
}

/** An error as the route's error handler answers it; nothing if the client has gone. */
function answer(res: ServerResponse, e: ApiError): void {
  if (!res.headersSent && !res.destroyed) answerError(res, e);
}

/**
 * Calls `done` with the whole body once it has arrived. A request that breaks off
 * first (the client went away, or the edge cut it for being too slow) is dropped:
 * there is nobody to answer, and nothing has been decided.
 */
function readBody(req: IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
  };
  const onEnd = () => {
    cleanup();
    done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  };
  const cleanup = () => {
    req.off("data", onData);
    req.off("end", onEnd);
    req.off("error", cleanup);
  };
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", cleanup);
}
