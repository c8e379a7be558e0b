/**
 * A faithful-enough ComfyUI on 127.0.0.1: HTTP and the /ws websocket on one port, one
 * GPU (prompts run one at a time, others wait in the queue), real PNGs rendered with
 * sharp at the EmptyLatentImage size.
 *
 *   POST /prompt {prompt, client_id}   → {prompt_id, number, node_errors} | 400 {error, node_errors}
 *   WS   /ws?clientId=                 status, execution_start, execution_cached, executing,
 *                                      progress, executed, execution_success, executing(null),
 *                                      execution_error, execution_interrupted; binary previews
 *   GET  /history/{id}, GET /view, POST /upload/image, GET/POST /queue, POST /interrupt
 *
 * Per-test behaviour comes from directives anywhere in the graph's strings (the prompt
 * text lands in CLIPTextEncode): `[comfy:500]` /prompt answers 500, `[comfy:error=node]`
 * 400 with node_errors, `[comfy:error=exec]` / `[comfy:error=oom]` execution_error in
 * the sampler, `[comfy:slow=<ms>]` per sampler step, `[comfy:hang]` the sampler never
 * ends (until interrupted), `[comfy:ws-drop]` the socket is cut after execution_start,
 * `[comfy:view=404]` / `[comfy:view=junk]` the images cannot be downloaded / are not images,
 * `[comfy:images=<k>]` only k images of the batch are saved, `[comfy:slow-answer]` the
 * prompt is queued at once but /prompt answers 300 ms later; and, as a proxy in front of
 * ComfyUI might: `[comfy:reset]` the connection is cut, `[comfy:badjson]` a truncated body,
 * `[comfy:429]` Too Many Requests with Retry-After: 7.
 *
 * Two behaviours of the real server that need no directive:
 * - Validation per output: a node that fails validation (e.g. a LoadImage naming a file
 *   that was never uploaded) fails the outputs that depend on it. When every output
 *   fails, 400 with `node_errors`; when only some do, 200 with the same non-empty
 *   `node_errors`, and only the valid outputs run.
 * - The cache: every node is cached by its class and inputs (links included). A node
 *   whose signature already ran is not run again (`execution_cached` lists it), and a
 *   cached output node reports the very same files as before. So an identical prompt
 *   graph (e.g. a template whose seed does not reach the image) gives the same output
 *   file again, as ComfyUI does. Rendered colours follow the output's signature, so
 *   graphs that differ (another seed) give different bytes. `{ cache: false }` turns it off.
 */
import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { WebSocketServer, type WebSocket } from "ws";

type Graph = Record<string, { class_type: string; inputs: Record<string, unknown> }>;
interface OutImage {
  filename: string;
  subfolder: string;
  type: string;
}
interface Job {
  id: string;
  number: number;
  graph: Graph;
  clientId: string;
  directives: Map<string, string>;
  interrupted: boolean;
  /** The nodes to run: the ancestors of the outputs that passed validation. */
  runs: Set<string>;
}
interface HistoryEntry {
  prompt: unknown[];
  outputs: Record<string, { images: OutImage[] }>;
  status: { status_str: "success" | "error"; completed: boolean; messages: [string, unknown][] };
  meta: Record<string, unknown>;
}

const KNOWN = new Set([
  "CheckpointLoaderSimple",
  "CLIPTextEncode",
  "EmptyLatentImage",
  "KSampler",
  "VAEDecode",
  "VAEEncode",
  "LoadImage",
  "SaveImage",
  "PreviewImage",
]);
const OUTPUT_NODES = new Set(["SaveImage", "PreviewImage"]);

export interface ComfyUiEmulator {
  url: string;
  /** What the emulator saw, for assertions. */
  seen: {
    prompts: Array<{ id: string; graph: Graph; clientId: string }>;
    uploads: Array<{ name: string; bytes: number; overwrite: string | null }>;
    deletes: string[];
    interrupts: Array<string | null>;
    views: string[];
    sockets: string[];
  };
  /** Resolves when a prompt with this id has started running. */
  started(promptId: string): Promise<void>;
  close(): Promise<void>;
}

export async function startComfyUiEmulator(
  opts: { stepMs?: number; cache?: boolean } = {},
): Promise<ComfyUiEmulator> {
  const stepMs = opts.stepMs ?? 2;
  const caching = opts.cache !== false;
  /** Node signatures that ran, with the images of the output nodes among them. */
  const cache = new Map<string, OutImage[] | null>();
  const seen: ComfyUiEmulator["seen"] = {
    prompts: [],
    uploads: [],
    deletes: [],
    interrupts: [],
    views: [],
    sockets: [],
  };
  const uploads = new Map<string, Buffer>();
  const files = new Map<string, { data: Buffer; junk: boolean; fail: boolean }>();
  const history = new Map<string, HistoryEntry>();
  const sockets = new Map<string, WebSocket>();
  const startWaiters = new Map<string, Array<() => void>>();
  const startedIds = new Set<string>();
  const pending: Job[] = [];
  let running: Job | null = null;
  let counter = 0;
  let fileCounter = 0;

  const send = (clientId: string | null, type: string, data: Record<string, unknown>) => {
    const msg = JSON.stringify({ type, data });
    const targets = clientId ? [sockets.get(clientId)] : [...sockets.values()];
    for (const ws of targets) if (ws && ws.readyState === ws.OPEN) ws.send(msg);
  };
  const queueStatus = (sid?: string) => ({
    status: { exec_info: { queue_remaining: pending.length + (running ? 1 : 0) } },
    ...(sid ? { sid } : {}),
  });
  const queueUpdated = () => send(null, "status", queueStatus());
  const queueItem = (j: Job) => [
    j.number,
    j.id,
    j.graph,
    { client_id: j.clientId },
    outputsOf(j.graph),
  ];

  const pump = () => {
    if (running || pending.length === 0) return;
    running = pending.shift()!;
    queueUpdated();
    void execute(running).finally(() => {
      running = null;
      queueUpdated();
      pump();
    });
  };

  async function execute(job: Job): Promise<void> {
    const ts = () => Date.now();
    const to = job.clientId;
    const messages: [string, unknown][] = [];
    const emit = (type: string, data: Record<string, unknown>) => {
      send(to, type, data);
      if (type.startsWith("execution_")) messages.push([type, data]);
    };
    const outputs: HistoryEntry["outputs"] = {};
    const executed: string[] = [];
    const finish = (ok: boolean) => {
      history.set(job.id, {
        prompt: queueItem(job),
        outputs,
        status: { status_str: ok ? "success" : "error", completed: ok, messages },
        meta: {},
      });
      // ComfyUI writes the history first, then announces the end with executing(null).
      send(to, "executing", { node: null, prompt_id: job.id });
    };

    emit("execution_start", { prompt_id: job.id, timestamp: ts() });
    startedIds.add(job.id);
    for (const w of startWaiters.get(job.id) ?? []) w();
    const sig = signatures(job.graph);
    const cached = [...job.runs].filter((id) => caching && cache.has(sig.get(id)!));
    emit("execution_cached", { nodes: cached, prompt_id: job.id, timestamp: ts() });
    if (job.directives.has("ws-drop")) sockets.get(to)?.terminate();

    const latent = Object.values(job.graph).find((n) => n.class_type === "EmptyLatentImage");
    const width = Number(latent?.inputs.width ?? 512);
    const height = Number(latent?.inputs.height ?? 512);
    const batch = Number(latent?.inputs.batch_size ?? 1);
    for (const id of order(job.graph)) {
      if (!job.runs.has(id)) continue;
      const node = job.graph[id]!;
      if (cached.includes(id)) {
        const images = cache.get(sig.get(id)!);
        if (images) {
          outputs[id] = { images };
          send(to, "executed", {
            node: id,
            display_node: id,
            output: { images },
            prompt_id: job.id,
          });
        }
        continue;
      }
      send(to, "executing", { node: id, display_node: id, prompt_id: job.id });
      if (node.class_type === "KSampler") {
        const steps = Math.min(20, Number(node.inputs.steps ?? 4));
        const slow = Number(job.directives.get("slow") ?? stepMs);
        for (let s = 1; job.directives.has("hang") || s <= steps; s++) {
          await new Promise((r) => setTimeout(r, slow));
          if (job.interrupted) {
            emit("execution_interrupted", {
              prompt_id: job.id,
              node_id: id,
              node_type: node.class_type,
              executed,
              timestamp: ts(),
            });
            return finish(false);
          }
          const err = job.directives.get("error");
          if ((err === "exec" || err === "oom") && s === 2) {
            emit("execution_error", {
              prompt_id: job.id,
              node_id: id,
              node_type: node.class_type,
              executed,
              exception_message:
                err === "oom" ? "Allocation on device 0 would exceed allowed memory." : "boom",
              exception_type: err === "oom" ? "torch.OutOfMemoryError" : "RuntimeError",
              traceback: ['  File "/srv/ComfyUI/execution.py", line 1'],
              current_inputs: {},
              current_outputs: {},
              timestamp: ts(),
            });
            return finish(false);
          }
          if (!job.directives.has("hang"))
            send(to, "progress", { value: s, max: steps, prompt_id: job.id, node: id });
          // A latent preview, as ComfyUI sends between steps (event 1 = PREVIEW_IMAGE, format 2 = PNG).
          const ws = sockets.get(to);
          if (ws?.readyState === ws?.OPEN)
            ws?.send(Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), Buffer.alloc(16)]));
        }
      }
      if (OUTPUT_NODES.has(node.class_type)) {
        const images: OutImage[] = [];
        const type = node.class_type === "SaveImage" ? "output" : "temp";
        const made = Math.min(batch, Number(job.directives.get("images") ?? batch));
        // The colour follows the node's signature (its seed, prompt…) and the batch index.
        const tint = createHash("sha256").update(sig.get(id)!).digest();
        for (let b = 0; b < made; b++) {
          const filename = `ComfyUI_${String(++fileCounter).padStart(5, "0")}_.png`;
          const data = await sharp({
            create: {
              width,
              height,
              channels: 3,
              background: { r: (40 * b) % 256, g: tint[0]!, b: tint[1]! },
            },
          })
            .png()
            .toBuffer();
          files.set(`${type}/${filename}`, {
            data,
            junk: job.directives.get("view") === "junk",
            fail: job.directives.get("view") === "404",
          });
          images.push({ filename, subfolder: "", type });
        }
        outputs[id] = { images };
        send(to, "executed", { node: id, display_node: id, output: { images }, prompt_id: job.id });
        cache.set(sig.get(id)!, images);
      } else cache.set(sig.get(id)!, null);
      executed.push(id);
    }
    emit("execution_success", { prompt_id: job.id, timestamp: ts() });
    finish(true);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void route(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
    const url = new URL(req.url ?? "/", "http://x");
    const p = url.pathname;
    if (req.method === "POST" && p === "/prompt") return postPrompt(res, body);
    if (req.method === "GET" && p.startsWith("/history/")) {
      const id = decodeURIComponent(p.slice("/history/".length));
      const h = history.get(id);
      return json(res, 200, h ? { [id]: h } : {});
    }
    if (req.method === "GET" && p === "/view") {
      const key = `${url.searchParams.get("type") ?? "output"}/${url.searchParams.get("subfolder") ? `${url.searchParams.get("subfolder")}/` : ""}${url.searchParams.get("filename")}`;
      seen.views.push(key);
      const f = files.get(key);
      if (!f || f.fail) {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { "content-type": "image/png" });
      return res.end(f.junk ? Buffer.from("not a png at all") : f.data);
    }
    if (req.method === "POST" && p === "/upload/image") {
      const form = await new Request("http://x/upload/image", {
        method: "POST",
        headers: { "content-type": String(req.headers["content-type"]) },
        body,
      }).formData();
      const image = form.get("image");
      if (!image || typeof image === "string") return json(res, 400, {});
      const name = image.name;
      const data = Buffer.from(await image.arrayBuffer());
      uploads.set(name, data);
      seen.uploads.push({ name, bytes: data.length, overwrite: form.get("overwrite") as string });
      return json(res, 200, { name, subfolder: "", type: "input" });
    }
    if (req.method === "GET" && p === "/queue")
      return json(res, 200, {
        queue_running: running ? [queueItem(running)] : [],
        queue_pending: pending.map(queueItem),
      });
    if (req.method === "POST" && p === "/queue") {
      const b = JSON.parse(body.toString() || "{}") as { delete?: string[]; clear?: boolean };
      for (const id of b.delete ?? []) {
        seen.deletes.push(id);
        const i = pending.findIndex((j) => j.id === id);
        if (i >= 0) pending.splice(i, 1);
      }
      if (b.clear) pending.length = 0;
      queueUpdated();
      res.writeHead(200);
      return res.end();
    }
    if (req.method === "POST" && p === "/interrupt") {
      let id: string | null = null;
      try {
        id = (JSON.parse(body.toString()) as { prompt_id?: string }).prompt_id ?? null;
      } catch {
        // ComfyUI accepts an empty body: a global interrupt.
      }
      seen.interrupts.push(id);
      if (running && (id === null || running.id === id)) running.interrupted = true;
      res.writeHead(200);
      return res.end();
    }
    res.writeHead(404);
    res.end("404: Not Found");
  }

  function postPrompt(res: http.ServerResponse, body: Buffer) {
    let parsed: { prompt?: unknown; client_id?: unknown };
    try {
      parsed = JSON.parse(body.toString()) as typeof parsed;
    } catch {
      return json(res, 400, { error: "invalid json", node_errors: [] });
    }
    const graph = parsed.prompt as Graph | undefined;
    if (!graph || typeof graph !== "object")
      return json(res, 400, {
        error: { type: "no_prompt", message: "No prompt provided", details: "", extra_info: {} },
        node_errors: {},
      });
    const text = JSON.stringify(graph);
    const directives = new Map<string, string>();
    for (const m of text.matchAll(/\[comfy:([a-z0-9-]+)(?:=([a-z0-9]+))?\]/g))
      directives.set(m[1]!, m[2] ?? "");
    if (directives.has("reset")) return res.socket?.destroy();
    if (directives.has("badjson")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end('{"prompt_id": "abc", "number": ');
    }
    if (directives.has("429")) {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "7" });
      return res.end('{"error": "too many requests"}');
    }
    if (directives.has("500")) {
      res.writeHead(500, { "content-type": "text/plain" });
      return res.end("500 Internal Server Error\n\nServer got itself in trouble");
    }
    for (const [id, node] of Object.entries(graph)) {
      if (!node || typeof node.class_type !== "string" || typeof node.inputs !== "object")
        return json(
          res,
          400,
          invalid(
            `Node ID '#${id}'`,
            "invalid_prompt",
            `Cannot execute because a node is missing the class_type property.`,
          ),
        );
      if (!KNOWN.has(node.class_type))
        return json(
          res,
          400,
          invalid(
            `Node ID '#${id}'`,
            "invalid_prompt",
            `Cannot execute because node ${node.class_type} does not exist.`,
          ),
        );
    }
    if (outputsOf(graph).length === 0)
      return json(res, 400, invalid("", "prompt_no_outputs", "Prompt has no outputs"));
    const nodeErrors: Record<string, unknown> = {};
    for (const [id, node] of Object.entries(graph)) {
      const reasons: unknown[] = [];
      if (node.class_type === "LoadImage" && !uploads.has(String(node.inputs.image)))
        reasons.push({
          type: "custom_validation_failed",
          message: "Custom validation failed for node",
          details: `image - Invalid image file: ${String(node.inputs.image)}`,
          extra_info: { input_name: "image" },
        });
      if (node.class_type === "KSampler" && directives.get("error") === "node")
        reasons.push({
          type: "value_not_in_list",
          message: "Value not in list",
          details: "sampler_name: 'nope' not in ['euler', ...]",
          extra_info: { input_name: "sampler_name" },
        });
      if (reasons.length)
        nodeErrors[id] = {
          errors: reasons,
          dependent_outputs: outputsOf(graph).filter((o) => ancestors(graph, o).has(id)),
          class_type: node.class_type,
        };
    }
    const good = outputsOf(graph).filter(
      (o) => ![...ancestors(graph, o)].some((a) => a in nodeErrors),
    );
    if (good.length === 0)
      return json(res, 400, {
        error: {
          type: "prompt_outputs_failed_validation",
          message: "Prompt outputs failed validation",
          details: "",
          extra_info: {},
        },
        node_errors: nodeErrors,
      });
    const job: Job = {
      id: randomUUID(),
      number: counter++,
      graph,
      clientId: typeof parsed.client_id === "string" ? parsed.client_id : "",
      directives,
      interrupted: false,
      runs: new Set(good.flatMap((o) => [...ancestors(graph, o)])),
    };
    seen.prompts.push({ id: job.id, graph, clientId: job.clientId });
    pending.push(job);
    // Some outputs failed validation: ComfyUI still queues the others, and says so.
    const answer = () =>
      json(res, 200, { prompt_id: job.id, number: job.number, node_errors: nodeErrors });
    // `[comfy:slow-answer]`: queued at once, answered 300 ms later (a cancel lands in between).
    if (directives.has("slow-answer")) setTimeout(answer, 300);
    else answer();
    // Like ComfyUI's worker thread, execution starts independently of the HTTP answer.
    setImmediate(pump);
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== "/ws") return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sid = url.searchParams.get("clientId") || randomUUID().replace(/-/g, "");
      seen.sockets.push(sid);
      sockets.set(sid, ws);
      ws.on("close", () => {
        if (sockets.get(sid) === ws) sockets.delete(sid);
      });
      ws.send(JSON.stringify({ type: "status", data: queueStatus(sid) }));
    });
  });

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    started(promptId) {
      if (startedIds.has(promptId)) return Promise.resolve();
      return new Promise((r) =>
        startWaiters.set(promptId, [...(startWaiters.get(promptId) ?? []), r]),
      );
    },
    async close() {
      for (const j of [running, ...pending]) if (j) j.interrupted = true;
      pending.length = 0;
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function invalid(details: string, type: string, message: string) {
  return { error: { type, message, details, extra_info: {} }, node_errors: {} };
}

function outputsOf(graph: Graph): string[] {
  return Object.keys(graph).filter((id) => OUTPUT_NODES.has(graph[id]!.class_type));
}

/** A node and every node it takes input from, transitively. */
function ancestors(graph: Graph, id: string, out = new Set<string>()): Set<string> {
  if (out.has(id) || !graph[id]) return out;
  out.add(id);
  for (const v of Object.values(graph[id].inputs))
    if (Array.isArray(v) && typeof v[0] === "string") ancestors(graph, v[0], out);
  return out;
}

/** Each node's cache key: its class and inputs, links replaced by the linked node's key. */
function signatures(graph: Graph): Map<string, string> {
  const sig = new Map<string, string>();
  const of = (id: string, stack: Set<string>): string => {
    const known = sig.get(id);
    if (known !== undefined) return known;
    const node = graph[id];
    if (!node || stack.has(id)) return `missing:${id}`;
    stack.add(id);
    const inputs = Object.keys(node.inputs)
      .sort()
      .map((k) => {
        const v = node.inputs[k];
        return [k, Array.isArray(v) && typeof v[0] === "string" ? [of(v[0], stack), v[1]] : v];
      });
    stack.delete(id);
    const s = JSON.stringify([node.class_type, inputs]);
    sig.set(id, s);
    return s;
  };
  for (const id of Object.keys(graph)) of(id, new Set());
  return sig;
}

/** Nodes in dependency order (inputs given as [node id, slot] links come first). */
function order(graph: Graph): string[] {
  const out: string[] = [];
  const visit = (id: string, stack: Set<string>) => {
    if (out.includes(id) || stack.has(id) || !graph[id]) return;
    stack.add(id);
    for (const v of Object.values(graph[id].inputs))
      if (Array.isArray(v) && typeof v[0] === "string") visit(v[0], stack);
    out.push(id);
  };
  for (const id of Object.keys(graph)) visit(id, new Set());
  return out;
}
