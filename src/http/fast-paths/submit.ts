/**
 * The submission fast path: `POST /v1/images/generations` served straight from
 * node:http, before Fastify's router, hook chain, body parser and reply machinery.
 *
 * Why: a submission's own work is small (validate, price, one batched durable write on
 * the writer thread), so the framework's fixed cost per request was the largest part
 * of what the event loop spent on one (BENCHMARKS.md).
 *
 * It takes only plain submissions: a JSON body of a sane declared length, a key the auth
 * cache vouches for with no rpm limit, no Idempotency-Key. It decides with the very
 * functions the route uses (the same parser, prepareSubmission, refusalFor, the same
 * serialiser), so its answers are the route's. A request it declines at the headers goes
 * to Fastify untouched. One whose body it has read but that does not reach the store (a
 * validation error, a model the key may not use, no upstream) goes to the route with
 * the body (body-handover.ts), which decides it afresh: nothing has been written.
 *
 * What the store answers is answered here: the task, or the store's refusal (balance,
 * key limit, tasks in progress), so a client out of credit costs one trip to the writer,
 * not two. A store that fails is answered 500 and logged, as the route's error handler
 * would: never handed over, because running the route would submit a second time, and
 * a store cannot always tell "failed" from "committed, but the answer was lost".
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import type { Store } from "../../store/store.js";
import { parseJsonBody } from "../json-body.js";
import type { AuthGate } from "../plugins/auth.js";
import { prepareSubmission, refusalFor, type SubmissionDeps } from "../submission.js";
import { taskView, type LinkSigner } from "../task-view.js";
import { handOver } from "./body-handover.js";
import {
  closable,
  compileTaskSerializer,
  sendApiError,
  sendInternalError,
  sendTaskJson,
  type ClosableFastPath,
} from "./respond.js";
import type { ResponseBatch } from "./response-batch.js";

const PATH = "/v1/images/generations";
/** The spellings clients send; any other (another charset, say) is Fastify's to judge. */
const JSON_TYPES = new Set([
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=utf-8",
]);

export interface SubmitFastPathDeps extends SubmissionDeps {
  store: Store;
  gate: AuthGate;
  signLink: LinkSigner;
  onSubmitted: (taskId: string, model: string) => void;
  bodyLimitBytes: number;
  log: Pick<Logger, "error">;
  answers: ResponseBatch;
}

export function createSubmitFastPath(deps: SubmitFastPathDeps): ClosableFastPath {
  const serialize = compileTaskSerializer();
  return closable((req, res, fallback) => {
    if (req.method !== "POST" || req.url !== PATH) return false;
    const h = req.headers;
    if (h["idempotency-key"] !== undefined || h["transfer-encoding"] !== undefined) return false;
    const type = h["content-type"];
    if (type === undefined || !JSON_TYPES.has(type.toLowerCase())) return false;
    // node's parser has checked the header is a number and will deliver exactly that many bytes.
    const length = Number(h["content-length"]);
    if (!(length > 0 && length <= deps.bodyLimitBytes)) return false;
    const principal = deps.gate.peekAdmissible(h.authorization, Date.now());
    if (!principal) return false;

    readBody(req, (raw) => {
      const failed = (err: unknown) => {
        const requestId = sendInternalError(deps.answers, req, res);
        deps.log.error({ err, reqId: requestId }, "unhandled error");
      };
      try {
        const decline = () => handOver(req, raw, fallback);
        const parsed = parseJsonBody(raw.toString("utf8"));
        if (!parsed.ok) return decline();
        const prepared = prepareSubmission(parsed.value, principal, deps, null, Date.now());
        if (!prepared.ok || prepared.refusal) return decline();
        deps.store
          .submitTask(prepared.input)
          .then((result) => {
            if (result.kind === "created") {
              deps.onSubmitted(result.task.id, result.task.model);
              sendTaskJson(deps.answers, req, res, serialize(taskView(result.task, deps.signLink)));
            } else if (result.kind === "replayed") {
              // Only an Idempotency-Key replays, and those are the route's.
              throw new Error("the store replayed a submission that had no idempotency key");
            } else {
              sendApiError(deps.answers, req, res, refusalFor(result, null));
            }
          })
          .catch(failed);
      } catch (err) {
        failed(err);
      }
    });
    return true;
  });
}

/**
 * Calls `done` with the whole body once it has arrived. A request that breaks off
 * first (the client went away) is dropped: there is nobody to answer, and nothing
 * has been decided.
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
