/**
 * The poll fast path: `GET /v1/tasks/{id}` answered by the edge's dispatch straight from
 * node:http, before Fastify's router, hook chain and reply machinery. It runs after the
 * edge's steps like every other request (edge/edge.ts): request id, shutdown refusal,
 * access log and hooks are not its business.
 *
 * Why: a poll is one indexed read and clients poll in tight loops, so the framework's
 * fixed cost is most of a poll's cost (BENCHMARKS.md has the A/B: the gain is large;
 * the submission fast path's was not, and it is gone).
 *
 * It answers only the plain success case and changes no state while deciding: the key
 * is in the auth cache, valid and has no rpm limit, the path is exactly a task id, and
 * the task exists for the caller's account. Anything else — a query string, an unknown
 * or rate-limited key, a missing task — falls through to Fastify, which answers as it
 * always does (the first poll with a key warms the cache there). The body is the same
 * taskView() through the same JSON Schema, compiled once.
 */
import { looksLikeTaskId } from "../../core/ids.js";
import type { Store, TaskView } from "../../store/store.js";
import { setRoute } from "../edge/edge.js";
import type { AuthGate } from "../plugins/auth.js";
import { taskView, type LinkSigner } from "../../core/public-task.js";
import { compileTaskSerializer, sendTaskJson, type FastPath } from "./respond.js";

const PREFIX = "/v1/tasks/";
/** The Fastify route this path stands in for (what logs and metrics call it). */
export const POLL_ROUTE = "/v1/tasks/:taskId";

export interface PollFastPathDeps {
  store: Pick<Store, "getTask" | "getTaskNow">;
  gate: AuthGate;
  signLink: LinkSigner;
}

export function createPollFastPath(deps: PollFastPathDeps): FastPath {
  const serialize = compileTaskSerializer();
  return (req, res, fallback) => {
    const url = req.url;
    if (req.method !== "GET" || !url || !url.startsWith(PREFIX)) return false;
    const taskId = url.slice(PREFIX.length);
    if (!looksLikeTaskId(taskId) || taskId.includes("/") || taskId.includes("?")) return false;
    const nowMs = Date.now();
    const principal = deps.gate.peekAdmissible(req.headers.authorization, nowMs);
    if (!principal) return false;
    setRoute(req, POLL_ROUTE, "poll-fast-path");

    const answer = (task: TaskView | null) => {
      if (!task || res.headersSent) return fallback();
      sendTaskJson(res, serialize(taskView(task, deps.signLink)));
    };
    // A store failure is Fastify's to report (500 JSON, logged with the request id).
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
  };
}
