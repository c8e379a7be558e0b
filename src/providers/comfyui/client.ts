/**
 * The HTTP and websocket calls to one ComfyUI server. Every call takes the run's signal
 * (cancel or time limit) and caps what it reads; transport failures and non-2xx answers
 * become ProviderErrors through errors.ts.
 *
 *   POST /upload/image  (multipart image, overwrite) → {name, subfolder, type}
 *   POST /prompt        {prompt, client_id}          → {prompt_id, number, node_errors}
 *   WS   /ws?clientId=  {type, data} events for that client (binary frames are previews)
 *   GET  /history/{id}  {<id>: {outputs: {<node>: {images: [...]}}, status}}
 *   GET  /view?filename=&subfolder=&type=            → image bytes
 *   GET  /queue, POST /queue {delete}, POST /interrupt {prompt_id}
 */
import { FormData, request } from "undici";
import WebSocket from "ws";
import type { ReferenceImage } from "../contract.js";
import { httpError, malformedAnswer, networkError, parseRetryAfter, type Stage } from "./errors.js";
import type { WorkflowGraph } from "./workflow.js";

const JSON_CAP_BYTES = 16 * 1024 * 1024;
const SOCKET_OPEN_TIMEOUT_MS = 5_000;

export interface ComfyUiEndpoint {
  baseUrl: string;
  /** Sent as a bearer token when the operator puts ComfyUI behind an authenticating proxy. */
  apiKey?: string;
  maxImageBytes: number;
  requestTimeoutMs: number;
}

export interface OutputImage {
  filename: string;
  subfolder: string;
  type: string;
}

export interface HistoryEntry {
  outputs: Record<string, { images?: OutputImage[] }>;
  status?: { status_str?: string; completed?: boolean; messages?: Array<[string, unknown]> };
}

/** A message from the websocket: `{type, data}`. */
export interface ComfyEvent {
  type: string;
  data: Record<string, unknown>;
}

export class ComfyUiClient {
  constructor(private readonly ep: ComfyUiEndpoint) {}

  private url(path: string): string {
    return this.ep.baseUrl.replace(/\/+$/, "") + path;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.ep.apiKey ? { authorization: `Bearer ${this.ep.apiKey}`, ...extra } : extra;
  }

  /** One request; returns status, headers and the body (at most `cap` bytes). */
  private async call(
    stage: Stage,
    method: "GET" | "POST",
    path: string,
    signal: AbortSignal,
    opts: { json?: unknown; form?: FormData; cap?: number } = {},
  ): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
    const cap = opts.cap ?? JSON_CAP_BYTES;
    try {
      const res = await request(this.url(path), {
        method,
        signal,
        headers: this.headers(
          opts.json !== undefined ? { "content-type": "application/json" } : {},
        ),
        body: opts.form ?? (opts.json !== undefined ? JSON.stringify(opts.json) : undefined),
        headersTimeout: this.ep.requestTimeoutMs,
        bodyTimeout: this.ep.requestTimeoutMs,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > cap) {
          res.body.destroy();
          throw new BodyTooLarge();
        }
        chunks.push(chunk);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof BodyTooLarge) throw err;
      throw networkError(stage);
    }
  }

  private async json<T>(
    stage: Stage,
    method: "GET" | "POST",
    path: string,
    signal: AbortSignal,
    opts: { json?: unknown; form?: FormData } = {},
  ): Promise<T> {
    const res = await this.call(stage, method, path, signal, opts);
    if (res.status < 200 || res.status > 299)
      throw httpError(stage, res.status, parseRetryAfter(res.headers["retry-after"] as string));
    try {
      return JSON.parse(res.body.toString("utf8")) as T;
    } catch {
      throw malformedAnswer(stage);
    }
  }

  /** Uploads a reference image to ComfyUI's input folder; returns the name LoadImage takes. */
  async upload(image: ReferenceImage, filename: string, signal: AbortSignal): Promise<string> {
    const form = new FormData();
    form.set("image", new Blob([image.data], { type: image.contentType }), filename);
    form.set("overwrite", "true");
    form.set("type", "input");
    const r = await this.json<{ name?: unknown; subfolder?: unknown }>(
      "upload",
      "POST",
      "/upload/image",
      signal,
      { form },
    );
    if (typeof r.name !== "string" || r.name === "") throw malformedAnswer("upload");
    return typeof r.subfolder === "string" && r.subfolder ? `${r.subfolder}/${r.name}` : r.name;
  }

  /**
   * Queues a prompt; returns its prompt_id and whether some nodes failed validation. A
   * 400 (every output failed) is invalid_parameters. When only some outputs fail,
   * ComfyUI answers 200 with a non-empty `node_errors` and runs the rest.
   */
  async submit(
    graph: WorkflowGraph,
    clientId: string,
    signal: AbortSignal,
  ): Promise<{ promptId: string; nodeErrors: boolean }> {
    const r = await this.json<{ prompt_id?: unknown; node_errors?: unknown }>(
      "submit",
      "POST",
      "/prompt",
      signal,
      { json: { prompt: graph, client_id: clientId } },
    );
    if (typeof r.prompt_id !== "string" || r.prompt_id === "") throw malformedAnswer("submit");
    const errs = r.node_errors;
    const nodeErrors =
      (Array.isArray(errs) && errs.length > 0) ||
      (typeof errs === "object" && errs !== null && Object.keys(errs).length > 0);
    return { promptId: r.prompt_id, nodeErrors };
  }

  /** The prompt's history entry, or null while it has none (still queued or running). */
  async history(promptId: string, signal: AbortSignal): Promise<HistoryEntry | null> {
    const r = await this.json<Record<string, HistoryEntry>>(
      "run",
      "GET",
      `/history/${encodeURIComponent(promptId)}`,
      signal,
    );
    return r[promptId] ?? null;
  }

  /** Downloads one output image, at most maxImageBytes. */
  async view(
    img: OutputImage,
    signal: AbortSignal,
  ): Promise<{ ok: true; data: Buffer } | { ok: false; reason: "status" | "too_large" }> {
    const q = new URLSearchParams({
      filename: img.filename,
      subfolder: img.subfolder,
      type: img.type,
    });
    try {
      const res = await this.call("download", "GET", `/view?${q}`, signal, {
        cap: this.ep.maxImageBytes,
      });
      if (res.status !== 200) return { ok: false, reason: "status" };
      return { ok: true, data: res.body };
    } catch (err) {
      if (err instanceof BodyTooLarge) return { ok: false, reason: "too_large" };
      throw err;
    }
  }

  /** Where the prompt is: "running", "pending" or "absent" (finished or unknown). */
  async queuePosition(promptId: string, signal: AbortSignal) {
    const q = await this.json<{ queue_running?: unknown[][]; queue_pending?: unknown[][] }>(
      "run",
      "GET",
      "/queue",
      signal,
    );
    if ((q.queue_running ?? []).some((item) => item[1] === promptId)) return "running" as const;
    if ((q.queue_pending ?? []).some((item) => item[1] === promptId)) return "pending" as const;
    return "absent" as const;
  }

  async deleteFromQueue(promptId: string, signal: AbortSignal): Promise<void> {
    await this.call("run", "POST", "/queue", signal, { json: { delete: [promptId] } });
  }

  /** Targeted interrupt: ComfyUI stops only this prompt if it is the one running. */
  async interrupt(promptId: string, signal: AbortSignal): Promise<void> {
    await this.call("run", "POST", "/interrupt", signal, { json: { prompt_id: promptId } });
  }

  /**
   * Opens the event socket for this client id, or returns null when it cannot be opened
   * (the caller then polls /history). Messages that arrive before the caller listens are
   * kept, since execution may start before POST /prompt has answered.
   */
  async openSocket(clientId: string, signal: AbortSignal): Promise<ComfySocket | null> {
    const url = new URL(this.url(`/ws?clientId=${encodeURIComponent(clientId)}`));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, { headers: this.headers(), maxPayload: 8 * 1024 * 1024 });
    const socket = new ComfySocket(ws);
    const opened = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), SOCKET_OPEN_TIMEOUT_MS);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(ok);
      };
      const onAbort = () => done(false);
      signal.addEventListener("abort", onAbort, { once: true });
      ws.once("open", () => done(true));
      ws.once("error", () => done(false));
      ws.once("close", () => done(false));
    });
    if (!opened) {
      socket.close();
      return null;
    }
    return socket;
  }
}

/** The websocket, reduced to a buffered stream of JSON events and a closed flag. */
export class ComfySocket {
  private readonly buffered: ComfyEvent[] = [];
  private listener: ((e: ComfyEvent) => void) | null = null;
  private closeListener: (() => void) | null = null;
  closed = false;

  constructor(private readonly ws: WebSocket) {
    ws.on("message", (raw, isBinary) => {
      if (isBinary) return; // preview frames
      let msg: unknown;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (typeof msg !== "object" || msg === null) return;
      const { type, data } = msg as { type?: unknown; data?: unknown };
      if (typeof type !== "string" || typeof data !== "object" || data === null) return;
      const event = { type, data: data as Record<string, unknown> };
      if (this.listener) this.listener(event);
      else this.buffered.push(event);
    });
    ws.on("error", () => this.markClosed());
    ws.on("close", () => this.markClosed());
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeListener?.();
  }

  /** Delivers buffered events, then live ones, to `fn`; `onClose` when the socket drops. */
  listen(fn: (e: ComfyEvent) => void, onClose: () => void): void {
    this.listener = fn;
    this.closeListener = onClose;
    for (const e of this.buffered.splice(0)) fn(e);
    if (this.closed) onClose();
  }

  /** Stops delivering; events buffer again until the next listen(). */
  unlisten(): void {
    this.listener = null;
    this.closeListener = null;
  }

  close(): void {
    this.listener = null;
    this.closeListener = null;
    this.closed = true;
    this.ws.removeAllListeners("message");
    this.ws.on("error", () => undefined);
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN)
      this.ws.terminate();
  }
}

class BodyTooLarge extends Error {}
