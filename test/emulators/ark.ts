/**
 * A faithful Volcengine Ark / BytePlus ModelArk Seedream endpoint on 127.0.0.1
 * (upstreams.md §1), for tests and benchmarks. `POST /api/v3/images/generations`:
 * Bearer auth, Ark's body validation and error bodies (`{"error": {code, message
 * ("... Request ID: ..."), param, type}}`), real JPEG (or PNG) images as `b64_json` or
 * `url` (served by the emulator itself), sequential sets up to `max_images`, and SSE
 * streaming with `image_generation.partial_succeeded` / `partial_failed` / `completed`
 * (left out for a single image, as Ark may) and `data: [DONE]`.
 *
 * Behaviour per request comes from directives in the prompt, so tests run in parallel:
 *
 * | directive                                  | effect                                                        |
 * | ------------------------------------------ | ------------------------------------------------------------- |
 * | `[ark:error=429,RateLimitExceeded]`        | HTTP error with that status and code                          |
 * | `[ark:error=429,QuotaExceeded,retry-after=2]` | … with a `Retry-After` header (seconds or an HTTP date)    |
 * | `[ark:moderate=1]` / `[ark:moderate=0,2]`  | those image_index (0-based) fail with OutputImageSensitiveContentDetected; the set goes on |
 * | `[ark:internal-after=2]`                   | images 0..1 succeed, image 2 fails InternalServiceError, the set stops |
 * | `[ark:generate=2]`                         | the model decides to make only 2 images (`=15`: a full set)   |
 * | `[ark:stream-error=ServerOverloaded,after=1]` | SSE: after 1 image an `error` event ends the stream        |
 * | `[ark:delay=300]`                          | each image takes 300 ms                                       |
 * | `[ark:hold=5000]`                          | nothing at all for 5 s, then the normal answer                |
 * | `[ark:hang]`                               | never answers (until the client goes away)                    |
 * | `[ark:reset-mid-body]`                     | headers and part of the body (SSE: the first image), then a TCP reset |
 * | `[ark:malformed]`                          | 200 with JSON that does not parse (SSE: a data line that does not) |
 * | `[ark:cut-stream]`                         | SSE ends after the images, without `completed` or `[DONE]`    |
 * | `[ark:url-broken]`                         | `url` results point at a 404                                  |
 * | `[ark:download-delay=3000,from=1]`         | downloads of `url` images 1.. answer only after 3 s           |
 *
 * Without `generate`, a set is not always full: like Ark, the model sometimes makes fewer
 * than `max_images` (`arkSetSize`: about one multi-image prompt in four, chosen by a hash
 * of the prompt, so tests stay deterministic). `{ fullSets: true }` turns that off.
 *
 * Built to hold 10,000 concurrent requests: per held request only its socket, parsed
 * body and at most one pending setTimeout; `tinyImages` answers with one precomputed JPEG.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import {
  ArkFault,
  arkSetSize,
  ERROR_TYPES,
  parseArkDirectives,
  validateArkBody,
  type Directives,
  type Job,
} from "./ark-protocol.js";

export { arkSetSize, parseArkDirectives } from "./ark-protocol.js";

export interface ArkEmulatorOptions {
  /** The key the emulator accepts (`Authorization: Bearer <key>`). */
  apiKey?: string;
  /** Answer every image with one precomputed 16x16 JPEG (benchmarks). */
  tinyImages?: boolean;
  /** Longest side actually rendered; `size` still reports the requested size. */
  maxRenderSide?: number;
  /** Keep every request's headers and body in `requests` (default true). */
  record?: boolean;
  /** Model ids answered with 404 ModelNotOpen. */
  notOpenModels?: string[];
  /** Always make `max_images` (no short sets without a directive). */
  fullSets?: boolean;
}

export interface RecordedRequest {
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown> | null;
}

export interface ArkEmulator {
  url: string;
  apiKey: string;
  requests: RecordedRequest[];
  /** Requests whose client went away before the answer was complete. */
  disconnects: RecordedRequest[];
  /**
   * "request" and "disconnect", each with the RecordedRequest; "answered" with the
   * prompt, once an answer (JSON, or a stream to its end) is written: benchmarks time
   * what follows it.
   */
  events: EventEmitter;
  /** Image downloads served (url format). */
  downloads: number;
  inFlight(): number;
  close(): Promise<void>;
}

export async function startArkEmulator(opts: ArkEmulatorOptions = {}): Promise<ArkEmulator> {
  const apiKey = opts.apiKey ?? "ark-emulator-key";
  const maxSide = opts.maxRenderSide ?? 64;
  const notOpen = new Set(opts.notOpenModels ?? []);
  const record = opts.record ?? true;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const files = new Map<string, { data: Buffer; delayMs: number }>();
  const renders = new Map<string, Promise<Buffer>>();
  const tiny = opts.tinyImages
    ? await sharp({ create: { width: 16, height: 16, channels: 3, background: "#406080" } })
        .jpeg()
        .toBuffer()
    : null;
  let inFlight = 0;
  let baseUrl = "";

  const state: ArkEmulator = {
    url: "",
    apiKey,
    requests: [],
    disconnects: [],
    events,
    downloads: 0,
    inFlight: () => inFlight,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  function render(job: Job, index: number): Promise<Buffer> {
    if (tiny && !job.png) return Promise.resolve(tiny);
    const scale = Math.min(1, maxSide / Math.max(job.width, job.height));
    const w = Math.max(1, Math.round(job.width * scale));
    const h = Math.max(1, Math.round(job.height * scale));
    const key = `${w}x${h}:${index % 6}:${job.png}`;
    let p = renders.get(key);
    if (!p) {
      const hue = (index * 57) % 360;
      const img = sharp({
        create: { width: w, height: h, channels: 3, background: `hsl(${hue}, 60%, 45%)` },
      });
      p = (job.png ? img.png() : img.jpeg({ quality: 80 })).toBuffer();
      if (renders.size > 256) renders.clear();
      renders.set(key, p);
    }
    return p;
  }

  async function imageItem(
    job: Job,
    index: number,
    d: Directives,
  ): Promise<Record<string, unknown>> {
    const data = await render(job, index);
    const size = `${job.width}x${job.height}`;
    if (job.format === "b64_json") return { b64_json: data.toString("base64"), size };
    const id = randomBytes(8).toString("hex");
    if (!d.urlBroken) {
      if (files.size > 20_000) files.delete(files.keys().next().value!);
      const slow = d.downloadDelay && index >= d.downloadDelay.from ? d.downloadDelay.ms : 0;
      files.set(id, { data, delayMs: slow });
    }
    return { url: `${baseUrl}/files/${id}.${job.png ? "png" : "jpeg"}`, size };
  }

  /** What image i of the set turns into; null once the set has stopped. */
  function outcomeOf(i: number, d: Directives): "image" | "moderated" | "internal" | null {
    if (d.internalAfter !== undefined && i > d.internalAfter) return null;
    if (d.internalAfter === i) return "internal";
    return d.moderate.has(i) ? "moderated" : "image";
  }

  const FAIL = {
    moderated: {
      code: "OutputImageSensitiveContentDetected",
      message: "The generated image may contain sensitive content.",
    },
    internal: {
      code: "InternalServiceError",
      message: "The service encountered an unexpected internal error.",
    },
  };

  function sendError(res: http.ServerResponse, f: ArkFault, retryAfter?: string): void {
    const rid = randomBytes(12).toString("hex");
    const body = JSON.stringify({
      error: {
        code: f.code,
        message: `${f.message} Request ID: ${rid}`,
        param: f.param,
        type: ERROR_TYPES[f.status] ?? "Error",
      },
    });
    const headers: http.OutgoingHttpHeaders = {
      "content-type": "application/json",
      "x-request-id": rid,
    };
    if (retryAfter) headers["retry-after"] = retryAfter;
    res.writeHead(f.status, headers).end(body);
  }

  /** A TCP reset shortly after the last write, so the client has read what came before. */
  const resetSoon = (res: http.ServerResponse) =>
    setTimeout(() => res.socket?.resetAndDestroy(), 100);

  const wait = (ms: number, res: http.ServerResponse) =>
    new Promise<boolean>((resolve) => {
      if (ms <= 0) return resolve(!res.destroyed);
      const t = setTimeout(() => {
        res.off("close", onClose);
        resolve(!res.destroyed);
      }, ms);
      const onClose = () => {
        clearTimeout(t);
        resolve(false);
      };
      res.once("close", onClose);
    });

  /** Images the model makes: the directive's count, else Ark's own (sometimes short) choice. */
  const setSize = (job: Job, d: Directives) =>
    d.generate !== undefined
      ? Math.min(job.count, d.generate)
      : opts.fullSets
        ? job.count
        : arkSetSize(job.prompt, job.count);

  async function answerJson(res: http.ServerResponse, job: Job, d: Directives): Promise<void> {
    const n = setSize(job, d);
    if (!(await wait(d.delayMs * n, res))) return;
    const data: Array<Record<string, unknown>> = [];
    let generated = 0;
    for (let i = 0; i < n; i++) {
      const o = outcomeOf(i, d);
      if (o === null) break;
      if (o === "image") {
        data.push(await imageItem(job, i, d));
        generated++;
      } else data.push({ error: FAIL[o] });
    }
    const usage = {
      generated_images: generated,
      output_tokens: generated * 16384,
      total_tokens: generated * 16384,
    };
    let text = JSON.stringify({
      model: job.model,
      created: Math.floor(Date.now() / 1000),
      data,
      usage,
    });
    if (d.malformed) text = text.slice(0, Math.max(1, Math.floor(text.length / 2))) + "}{,";
    if (res.destroyed) return;
    if (d.resetMidBody) {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      res.write(text.slice(0, Math.floor(text.length / 2)), () => resetSoon(res));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(text);
    events.emit("answered", job.prompt);
  }

  async function answerStream(res: http.ServerResponse, job: Job, d: Directives): Promise<void> {
    const n = setSize(job, d);
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    const send = (type: string, payload: Record<string, unknown>, then?: () => void) =>
      res.write(
        `event: ${type}\ndata: ${JSON.stringify({ type, model: job.model, created: Math.floor(Date.now() / 1000), ...payload })}\n\n`,
        then,
      );
    if (d.malformed) {
      res.write(
        `event: image_generation.partial_succeeded\ndata: {"type": "image_generation.partial_succ\n\n`,
      );
      res.end();
      return;
    }
    let generated = 0;
    for (let i = 0; i < n; i++) {
      if (d.streamError && d.streamError.after === i) {
        res.write(
          `event: error\ndata: ${JSON.stringify({ error: { code: d.streamError.code, message: "Stream failed. Request ID: x" } })}\n\n`,
        );
        res.end();
        return;
      }
      if (!(await wait(d.delayMs, res))) return;
      const o = outcomeOf(i, d);
      if (o === null) break;
      const then = d.resetMidBody ? () => resetSoon(res) : undefined;
      if (o === "image") {
        send(
          "image_generation.partial_succeeded",
          { image_index: i, ...(await imageItem(job, i, d)) },
          then,
        );
        generated++;
      } else send("image_generation.partial_failed", { image_index: i, error: FAIL[o] }, then);
      if (d.resetMidBody) return;
    }
    if (d.cutStream) {
      res.end();
      return;
    }
    if (job.sequential)
      send("image_generation.completed", {
        usage: {
          generated_images: generated,
          output_tokens: generated * 16384,
          total_tokens: generated * 16384,
        },
      });
    res.end("data: [DONE]\n\n");
    events.emit("answered", job.prompt);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method === "GET" && path.startsWith("/files/")) {
      const file = files.get(path.slice(7).replace(/\.[a-z]+$/, ""));
      if (!file) return void res.writeHead(404, { "content-type": "text/plain" }).end("NoSuchKey");
      if (!(await wait(file.delayMs, res))) return;
      const data = file.data;
      state.downloads++;
      res
        .writeHead(200, {
          "content-type": path.endsWith(".png") ? "image/png" : "image/jpeg",
          "content-length": data.length,
        })
        .end(data);
      return;
    }
    if (req.method !== "POST" || path !== "/api/v3/images/generations") {
      return sendError(res, new ArkFault(404, "NotFound", "The requested resource was not found."));
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
        body = parsed as Record<string, unknown>;
    } catch {
      body = null;
    }
    const rec: RecordedRequest = { headers: req.headers, body };
    if (record) state.requests.push(rec);
    res.once("close", () => {
      inFlight--;
      if (!res.writableFinished) {
        if (record) state.disconnects.push(rec);
        events.emit("disconnect", rec);
      }
    });
    inFlight++;
    events.emit("request", rec);

    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return sendError(
        res,
        new ArkFault(
          401,
          "AuthenticationError",
          "The API key in the request is missing or invalid.",
        ),
      );
    if (!body)
      return sendError(
        res,
        new ArkFault(400, "InvalidParameter", "The request body is not valid JSON.", "body"),
      );
    const d = parseArkDirectives(typeof body.prompt === "string" ? body.prompt : "");
    if (d.hang) return; // the socket stays open until the client leaves or close()
    if (!(await wait(d.holdMs, res))) return;
    let job: Job;
    try {
      job = validateArkBody(body, notOpen);
    } catch (err) {
      if (err instanceof ArkFault) return sendError(res, err);
      throw err;
    }
    if (d.error)
      return sendError(
        res,
        new ArkFault(d.error.status, d.error.code, "Emulated failure."),
        d.error.retryAfter,
      );
    if (job.stream) await answerStream(res, job, d);
    else await answerJson(res, job, d);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent)
        sendError(res, new ArkFault(500, "InternalServiceError", "Emulator failure."));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 0;
  // A deep accept backlog: benchmarks open thousands of connections at once.
  await new Promise<void>((r) => server.listen({ port: 0, host: "127.0.0.1", backlog: 65_535 }, r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.url = baseUrl;
  return state;
}
