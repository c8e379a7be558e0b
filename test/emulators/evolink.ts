/**
 * A faithful loopback emulator of EvoLink's public task API (spec/upstreams.md §4:
 * submit, then poll), for the `evolink` provider's tests: bearer auth, body validation
 * with `param`, tasks whose progress grows over polls, result links it serves itself
 * (real JPEG bytes), failed tasks with business codes, 404 for unknown tasks.
 *
 * By default it does only what EvoLink documents: an `Idempotency-Key` header is
 * ignored (every submission creates and bills a task) and there is no cancel call
 * (404). `{ darkroomExtras: true }` adds what a Darkroom upstream offers on top
 * (spec/api.md): Idempotency-Key replay (same key + same body → the same task,
 * `Idempotency-Replayed: true`; a different body → 409) and
 * `POST /v1/tasks/{id}/cancel` (409 once terminal).
 *
 * Per-task behaviour from directives in the prompt, so tests run in parallel:
 *   submit:  [evolink:error=<status>,code=<code>,param=<p>,retry-after=<s>]
 *            [evolink:hang]  [evolink:reset]  [evolink:malformed]  [evolink:delay=<ms>]
 *   task:    [evolink:polls=<k>] completes on the k-th poll (default 3)
 *            [evolink:fail=<code>] fails with that code instead
 *            [evolink:generate=<k>] only k results   [evolink:stall] never finishes
 *            [evolink:vanish] polls answer 404     [evolink:pollerror=<status>] the first poll fails
 *            [evolink:badresult] result links serve HTML
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import sharp from "sharp";

export interface EmulatedTask {
  id: string;
  body: Record<string, unknown>;
  directives: Map<string, string>;
  polls: number;
  status: "pending" | "processing" | "completed" | "failed";
  progress: number;
  errorCode: string | null;
  created: number;
  idempotencyKey: string | null;
}

export interface EvolinkEmulator {
  url: string;
  apiKey: string;
  tasks: Map<string, EmulatedTask>;
  /** Submissions received (replays included). */
  submissions: Array<{ headers: http.IncomingHttpHeaders; body: unknown }>;
  /** Cancel calls received (answered 404 unless darkroomExtras). */
  cancels: string[];
  /** Progress values served by polls, per task. */
  served: Map<string, number[]>;
  close(): Promise<void>;
}

export function parseDirectives(prompt: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of prompt.matchAll(/\[evolink:([^\]]*)\]/g))
    for (const part of m[1]!.split(",")) {
      const [k, v] = part.split("=");
      if (k) out.set(k.trim(), (v ?? "").trim());
    }
  return out;
}

const canonical = (x: unknown): string =>
  Array.isArray(x)
    ? `[${x.map(canonical).join(",")}]`
    : typeof x === "object" && x !== null
      ? `{${Object.keys(x)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`)
          .join(",")}}`
      : JSON.stringify(x);

export interface EvolinkEmulatorOptions {
  apiKey?: string;
  models?: string[];
  /** Behave like a Darkroom upstream: replay Idempotency-Key, accept cancel. */
  darkroomExtras?: boolean;
}

export async function startEvolinkEmulator(
  opts: EvolinkEmulatorOptions = {},
): Promise<EvolinkEmulator> {
  const extras = opts.darkroomExtras === true;
  const apiKey = opts.apiKey ?? `sk-${randomBytes(20).toString("hex")}`;
  const models = new Set(opts.models ?? ["doubao-seedream-4.0", "gpt-image-1"]);
  const tasks = new Map<string, EmulatedTask>();
  const byKey = new Map<string, { body: string; taskId: string }>();
  const submissions: EvolinkEmulator["submissions"] = [];
  const cancels: string[] = [];
  const served = new Map<string, number[]>();
  const sockets = new Set<Socket>();
  const jpeg = await sharp({
    create: { width: 96, height: 64, channels: 3, background: "#468" },
  })
    .jpeg()
    .toBuffer();
  let base = "";

  const send = (
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (
    res: http.ServerResponse,
    status: number,
    code: string,
    type: string,
    param?: string,
    headers: Record<string, string> = {},
  ) =>
    send(
      res,
      status,
      { error: { code, message: `Emulated ${code}.`, type, ...(param ? { param } : {}) } },
      headers,
    );

  const view = (t: EmulatedTask) => {
    const n = Number(t.body.n ?? 1);
    const k = t.directives.has("generate") ? Math.min(n, Number(t.directives.get("generate"))) : n;
    return {
      created: t.created,
      id: t.id,
      model: t.body.model,
      object: "image.generation.task",
      progress: t.progress,
      status: t.status,
      task_info: {
        can_cancel: extras && (t.status === "pending" || t.status === "processing"),
        estimated_time: 5,
      },
      type: "image",
      usage: { billing_rule: "per_call", credits_reserved: 1.8 * n, user_group: "default" },
      ...(t.status === "completed"
        ? { results: Array.from({ length: k }, (_, i) => `${base}/files/${t.id}/${i}.jpg?sig=x`) }
        : {}),
      ...(t.status === "failed"
        ? { error: { code: t.errorCode, message: "Emulated failure.", type: "task_error" } }
        : {}),
    };
  };

  function submit(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): void {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      return error(res, 400, "invalid_request", "invalid_request_error", "body");
    }
    submissions.push({ headers: req.headers, body });
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return error(res, 400, "invalid_request", "invalid_request_error", "body");
    const b = body as Record<string, unknown>;
    if (typeof b.model !== "string")
      return error(res, 400, "invalid_request", "invalid_request_error", "model");
    if (!models.has(b.model))
      return error(res, 404, "model_not_found", "invalid_request_error", "model");
    if (typeof b.prompt !== "string" || !b.prompt.trim() || b.prompt.length > 2000)
      return error(res, 400, "invalid_request", "invalid_request_error", "prompt");
    if (
      b.n !== undefined &&
      (!Number.isInteger(b.n) || (b.n as number) < 1 || (b.n as number) > 15)
    )
      return error(res, 400, "invalid_request", "invalid_request_error", "n");
    if (b.size !== undefined && typeof b.size !== "string")
      return error(res, 400, "invalid_request", "invalid_request_error", "size");
    if (b.image_urls !== undefined && !Array.isArray(b.image_urls))
      return error(res, 400, "invalid_request", "invalid_request_error", "image_urls");

    const d = parseDirectives(b.prompt);
    const reply = () => {
      if (d.has("hang")) return;
      if (d.has("reset")) return void req.socket.destroy();
      if (d.has("malformed")) {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end('{"id": "task-unified-');
      }
      if (d.has("error")) {
        const headers: Record<string, string> = {};
        if (d.get("retry-after")) headers["retry-after"] = d.get("retry-after")!;
        return error(
          res,
          Number(d.get("error")),
          d.get("code") ?? "internal_error",
          "api_error",
          d.get("param"),
          headers,
        );
      }
      // EvoLink documents no Idempotency-Key: only a Darkroom upstream replays it.
      const key =
        extras && typeof req.headers["idempotency-key"] === "string"
          ? req.headers["idempotency-key"]
          : null;
      if (key) {
        const seen = byKey.get(key);
        if (seen && seen.body !== canonical(b))
          return error(res, 409, "idempotency_key_reused", "invalid_request_error");
        if (seen)
          return send(res, 200, view(tasks.get(seen.taskId)!), { "idempotency-replayed": "true" });
      }
      const id = `task-unified-${Math.floor(Date.now() / 1000)}-${randomBytes(4).toString("hex")}`;
      const t: EmulatedTask = {
        id,
        body: b,
        directives: d,
        polls: 0,
        status: "pending",
        progress: 0,
        errorCode: null,
        created: Math.floor(Date.now() / 1000),
        idempotencyKey: key,
      };
      tasks.set(id, t);
      if (key) byKey.set(key, { body: canonical(b), taskId: id });
      send(res, 200, view(t));
    };
    const delay = Number(d.get("delay") ?? 0);
    if (delay > 0) setTimeout(reply, delay);
    else reply();
  }

  function poll(res: http.ServerResponse, t: EmulatedTask): void {
    const d = t.directives;
    t.polls++;
    if (d.has("vanish")) return error(res, 404, "task_not_found", "invalid_request_error");
    if (d.has("pollerror") && t.polls === 1)
      return error(res, Number(d.get("pollerror")), "internal_error", "api_error");
    if (t.status === "pending" || t.status === "processing") {
      const k = Math.max(1, Number(d.get("polls") ?? 3));
      if (d.has("stall")) {
        t.status = "processing";
        t.progress = Math.min(50, t.polls * 10);
      } else if (t.polls >= k) {
        if (d.has("fail")) {
          t.status = "failed";
          t.errorCode = d.get("fail")!;
        } else {
          t.status = "completed";
          t.progress = 100;
        }
      } else {
        t.status = "processing";
        t.progress = Math.floor((t.polls / k) * 100);
      }
    }
    const list = served.get(t.id) ?? [];
    list.push(t.progress);
    served.set(t.id, list);
    send(res, 200, view(t));
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0]!;
      const file = /^\/files\/(task-unified-[\w-]+)\/(\d+)\.jpg$/.exec(path);
      if (req.method === "GET" && file && tasks.get(file[1]!)?.status === "completed") {
        const bad = tasks.get(file[1]!)!.directives.has("badresult");
        res.writeHead(200, { "content-type": bad ? "text/html" : "image/jpeg" });
        return void res.end(bad ? "<html>expired</html>" : jpeg);
      }
      if (req.headers.authorization !== `Bearer ${apiKey}`)
        return error(res, 401, "unauthorized", "authentication_error");
      if (req.method === "POST" && path === "/v1/images/generations")
        return submit(req, res, Buffer.concat(chunks));
      const m = /^\/v1\/tasks\/([^/]+)(\/cancel)?$/.exec(path);
      if (m) {
        const t = tasks.get(decodeURIComponent(m[1]!));
        if (!t) return error(res, 404, "task_not_found", "invalid_request_error");
        if (req.method === "GET" && !m[2]) return poll(res, t);
        if (req.method === "POST" && m[2]) {
          cancels.push(t.id);
          if (!extras) return error(res, 404, "not_found", "invalid_request_error");
          if (t.status === "completed" || t.status === "failed")
            return error(res, 409, "task_not_cancellable", "invalid_request_error");
          t.status = "failed";
          t.errorCode = "request_cancelled";
          return send(res, 200, view(t));
        }
      }
      error(res, 404, "not_found", "invalid_request_error");
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    apiKey,
    tasks,
    submissions,
    cancels,
    served,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
