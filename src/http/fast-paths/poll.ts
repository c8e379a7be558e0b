/**
 * The poll fast path: `GET /v1/tasks/{id}` served straight from node:http, before
 * Fastify's router, hook chain and reply machinery.
 *
 * Why: a poll is one indexed read, and clients poll in tight loops, so the framework's
 * fixed cost per request is most of a poll's cost (BENCHMARKS.md: bare Fastify alone
 * reaches ~65–75% of a bare node:http server on this class of machine).
 *
 * It answers only the plain success case and changes no state while deciding: the
 * key is in the auth cache, valid and has no rpm limit,
 * the path is exactly a task id, and the task exists for the caller's account. Anything
 * else — a query string, an unknown or rate-limited key, a missing task, a server that
 * is closing, the access log switched on — falls through to Fastify, which produces the
 * same answer it always did (the first poll with a key warms the cache there).
 * The body is the same taskView() through the same JSON Schema, compiled once.
 */
import { looksLikeTaskId } from "../../core/ids.js";
import type { Store, TaskView } from "../../store/store.js";
import type { AuthGate } from "../plugins/auth.js";
import { taskView, type LinkSigner } from "../task-view.js";
import { closable, compileTaskSerializer, sendTaskJson, type ClosableFastPath } from "./respond.js";
import { ResponseBatch } from "./response-batch.js";

const PREFIX = "/v1/tasks/";

export interface PollFastPathDeps {
  store: Store;
  gate: AuthGate;
  signLink: LinkSigner;
  answers: ResponseBatch;
}

export function createPollFastPath(deps: PollFastPathDeps): ClosableFastPath {
  const serialize = compileTaskSerializer();
  return closable((req, res, fallback) => {
    const url = req.url;
    if (req.method !== "GET" || !url || !url.startsWith(PREFIX)) return false;
    const taskId = url.slice(PREFIX.length);
    if (!looksLikeTaskId(taskId) || taskId.includes("/") || taskId.includes("?")) return false;
    const nowMs = Date.now();
    const principal = deps.gate.peekAdmissible(req.headers.authorization, nowMs);
    if (!principal) return false;

    const answer = (task: TaskView | null) => {
      if (!task || ResponseBatch.answered(res)) return fallback();
      sendTaskJson(deps.answers, req, res, serialize(taskView(task, deps.signLink)));
    };
    deps.answers.arm();
    // A store failure is Fastify's to report (500 JSON, logged with a request id).
    const { store } = deps;
    if (store.getTaskNow) {
      let task: TaskView | null;
      try {
        task = store.getTaskNow(principal.accountId, taskId);
      } catch {
        return false;
      }
      answer(task);
    } else {
      store.getTask(principal.accountId, taskId).then(answer, () => fallback());
    }
    return true;
  });
}
