/**
 * A faithful loopback emulator of the Gemini API's generateContent for image models
 * (docs/providers.md#gemini, written from Google's public documentation), for the
 * `gemini` provider's tests. Real HTTP on 127.0.0.1, real PNG bytes (sharp).
 *
 * Like the real service it:
 * - takes the key from `x-goog-api-key` (or `?key=`): none → 403 PERMISSION_DENIED,
 *   a wrong one → 400 INVALID_ARGUMENT with an ErrorInfo reason API_KEY_INVALID;
 * - answers `POST /v1beta/models/{model}:generateContent` only, 404 NOT_FOUND for an
 *   unknown model, errors as `{"error": {"code", "message", "status", "details"}}`;
 * - checks the body: `contents[].parts[]` of `text` or `inline_data`/`inlineData`
 *   (base64 image), `generationConfig.responseModalities`, `imageConfig.aspectRatio`
 *   among the ten ratios and `imageSize` 1K/2K/4K only where the model has it (an
 *   unknown field is 400 "Invalid JSON payload received. Unknown name");
 * - answers one image per call in `candidates[0].content.parts[]` as
 *   `inlineData {mimeType, data}` next to a text part, at the model's size for the
 *   ratio and size asked (or the first reference image's ratio when none is asked),
 *   `finishReason: "STOP"`, and `usageMetadata`.
 *
 * Per-request behaviour comes from directives in the prompt, so tests run in parallel:
 *   [gemini:error=<status>]        Google's error for that status (429 with RetryInfo
 *                                  `retry=<s>`, default 7s)
 *   [gemini:block=<reason>]        promptFeedback.blockReason, no candidates
 *   [gemini:finish=<reason>]       a candidate without an image (IMAGE_SAFETY, …)
 *   [gemini:words]                 the model answers in words only (STOP)
 *   [gemini:images=<k>]            only the first k calls with this prompt make an
 *                                  image; later ones answer in words (fewer than asked)
 *   [gemini:delay=<ms>] [gemini:hang] [gemini:reset] [gemini:malformed]
 * Per-key behaviour (`keys`): a key that always answers one error status, for failover.
 */
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import sharp from "sharp";

type Json = Record<string, unknown>;

export interface GeminiRecordedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  model: string;
  body?: Json;
  prompt?: string;
  /** Inline images received: their mime types and decoded sizes. */
  images: Array<{ mimeType: string; bytes: number }>;
}

export interface GeminiEmulator {
  url: string;
  apiKey: string;
  requests: GeminiRecordedRequest[];
  /** "request" with each GeminiRecordedRequest as it arrives. */
  events: EventEmitter;
  close(): Promise<void>;
}

export interface GeminiEmulatorOptions {
  apiKey?: string;
  /** More accepted keys, each always answering this HTTP error status. */
  failingKeys?: Record<string, number>;
}

const RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"];

/** Output pixels per model: ratio → size → [w, h] (the image generation guide's tables). */
const FLASH: Record<string, [number, number]> = {
  "1:1": [1024, 1024],
  "2:3": [832, 1248],
  "3:2": [1248, 832],
  "3:4": [864, 1184],
  "4:3": [1184, 864],
  "4:5": [896, 1152],
  "5:4": [1152, 896],
  "9:16": [768, 1344],
  "16:9": [1344, 768],
  "21:9": [1536, 672],
};
const PRO_1K: Record<string, [number, number]> = {
  "1:1": [1024, 1024],
  "2:3": [848, 1264],
  "3:2": [1264, 848],
  "3:4": [896, 1200],
  "4:3": [1200, 896],
  "4:5": [928, 1152],
  "5:4": [1152, 928],
  "9:16": [768, 1376],
  "16:9": [1376, 768],
  "21:9": [1584, 672],
};

interface ModelRules {
  sizes: string[];
  maxImages: number;
  pixels(ratio: string, size: string): [number, number];
}

const MODELS: Record<string, ModelRules> = {
  "gemini-2.5-flash-image": { sizes: [], maxImages: 3, pixels: (r) => FLASH[r]! },
  "gemini-3-pro-image-preview": {
    sizes: ["1K", "2K", "4K"],
    maxImages: 14,
    pixels: (r, s) => {
      const [w, h] = PRO_1K[r]!;
      const k = s === "4K" ? 4 : s === "2K" ? 2 : 1;
      return [w * k, h * k];
    },
  },
};

const STATUS_OF: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

const MESSAGE_OF: Record<number, string> = {
  400: "Request contains an invalid argument.",
  403: "The caller does not have permission.",
  404: "Requested entity was not found.",
  429: "Resource has been exhausted (e.g. check quota).",
  500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
  503: "The model is overloaded. Please try again later.",
  504: "Deadline expired before operation could complete.",
};

export function geminiDirectives(prompt: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of prompt.matchAll(/\[gemini:([^\]]*)\]/g)) {
    for (const part of m[1]!.split(",")) {
      const [k, v] = part.split("=");
      if (k) out.set(k.trim(), (v ?? "").trim());
    }
  }
  return out;
}

const isObject = (x: unknown): x is Json =>
  typeof x === "object" && x !== null && !Array.isArray(x);

export async function startGeminiEmulator(
  opts: GeminiEmulatorOptions = {},
): Promise<GeminiEmulator> {
  const apiKey = opts.apiKey ?? "gemini-emu-key-0123456789";
  const failingKeys = opts.failingKeys ?? {};
  const requests: GeminiRecordedRequest[] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const sockets = new Set<Socket>();
  const imagesMade = new Map<string, number>();

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
    res.end(JSON.stringify(body));
  };
  const fail = (
    res: http.ServerResponse,
    code: number,
    message = MESSAGE_OF[code] ?? "Error.",
    details?: unknown[],
  ) =>
    send(res, code, {
      error: {
        code,
        message,
        status: STATUS_OF[code] ?? "UNKNOWN",
        ...(details ? { details } : {}),
      },
    });
  const failStatus = (res: http.ServerResponse, code: number, retrySeconds = "7") =>
    code === 429
      ? fail(res, 429, MESSAGE_OF[429], [
          {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            retryDelay: `${retrySeconds}s`,
          },
        ])
      : fail(res, code);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer) {
    const url = new URL(req.url ?? "/", "http://x");
    const m = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(url.pathname);
    if (req.method !== "POST" || !m) return fail(res, 404);
    const model = decodeURIComponent(m[1]!);
    const rec: GeminiRecordedRequest = {
      path: url.pathname,
      headers: req.headers,
      model,
      images: [],
    };
    requests.push(rec);

    const key =
      (req.headers["x-goog-api-key"] as string | undefined) ?? url.searchParams.get("key");
    if (!key)
      return fail(
        res,
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
    if (key !== apiKey && failingKeys[key] === undefined)
      return fail(res, 400, "API key not valid. Please pass a valid API key.", [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          domain: "googleapis.com",
        },
      ]);
    const rules = MODELS[model];
    if (!rules)
      return fail(
        res,
        404,
        `models/${model} is not found for API version v1beta, or is not supported for generateContent.`,
      );

    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      return fail(res, 400, "Invalid JSON payload received.");
    }
    if (!isObject(body)) return fail(res, 400, "Invalid JSON payload received.");
    rec.body = body;
    for (const k of Object.keys(body))
      if (!["contents", "generationConfig", "generation_config", "safetySettings"].includes(k))
        return fail(
          res,
          400,
          `Invalid JSON payload received. Unknown name "${k}": Cannot find field.`,
        );
    const contents = body.contents;
    if (!Array.isArray(contents) || contents.length === 0)
      return fail(res, 400, "* GenerateContentRequest.contents: contents is not specified");
    let prompt = "";
    const refRatios: number[] = [];
    for (const c of contents) {
      const parts = isObject(c) ? c.parts : undefined;
      if (!Array.isArray(parts) || parts.length === 0)
        return fail(
          res,
          400,
          "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.",
        );
      for (const p of parts) {
        if (!isObject(p)) return fail(res, 400, "Invalid JSON payload received.");
        if (typeof p.text === "string") prompt += p.text;
        else if (isObject(p.inline_data ?? p.inlineData)) {
          const d = (p.inline_data ?? p.inlineData) as Json;
          const mimeType = d.mime_type ?? d.mimeType;
          if (typeof mimeType !== "string" || typeof d.data !== "string")
            return fail(
              res,
              400,
              "Invalid JSON payload received. inline_data needs mime_type and data.",
            );
          const bytes = Buffer.from(d.data, "base64");
          rec.images.push({ mimeType, bytes: bytes.length });
          const meta = await sharp(bytes)
            .metadata()
            .catch(() => null);
          if (!meta?.width || !meta.height)
            return fail(
              res,
              400,
              "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            );
          refRatios.push(meta.width / meta.height);
        } else return fail(res, 400, "Invalid JSON payload received. Unknown name in part.");
      }
    }
    rec.prompt = prompt;
    events.emit("request", rec);
    if (rec.images.length > rules.maxImages)
      return fail(res, 400, `Too many input images: at most ${rules.maxImages}.`);

    const config = (body.generationConfig ?? body.generation_config ?? {}) as unknown;
    if (!isObject(config)) return fail(res, 400, "Invalid JSON payload received.");
    for (const k of Object.keys(config))
      if (!["responseModalities", "imageConfig", "candidateCount", "temperature"].includes(k))
        return fail(
          res,
          400,
          `Invalid JSON payload received. Unknown name "${k}" at 'generation_config': Cannot find field.`,
        );
    const modalities = config.responseModalities;
    if (
      modalities !== undefined &&
      (!Array.isArray(modalities) || modalities.some((x) => x !== "TEXT" && x !== "IMAGE"))
    )
      return fail(res, 400, "Invalid value at 'generation_config.response_modalities'.");
    if (Array.isArray(modalities) && !modalities.includes("IMAGE"))
      return fail(
        res,
        400,
        "This model only supports text and image output, with IMAGE asked for.",
      );
    const imageConfig = (config.imageConfig ?? {}) as unknown;
    if (!isObject(imageConfig)) return fail(res, 400, "Invalid JSON payload received.");
    for (const k of Object.keys(imageConfig))
      if (k !== "aspectRatio" && k !== "imageSize")
        return fail(
          res,
          400,
          `Invalid JSON payload received. Unknown name "${k}" at 'generation_config.image_config': Cannot find field.`,
        );
    const asked = imageConfig.aspectRatio;
    if (asked !== undefined && (typeof asked !== "string" || !RATIOS.includes(asked)))
      return fail(res, 400, "Unsupported aspect ratio.");
    const size = imageConfig.imageSize;
    if (size !== undefined && (typeof size !== "string" || !rules.sizes.includes(size)))
      return fail(res, 400, `Unsupported image size for ${model}.`);

    const d = geminiDirectives(prompt);
    if (d.has("delay")) await new Promise((r) => setTimeout(r, Number(d.get("delay"))));
    if (d.has("hang")) return; // the socket stays open until close()
    if (failingKeys[key] !== undefined) return failStatus(res, failingKeys[key]);
    if (d.has("error")) return failStatus(res, Number(d.get("error")), d.get("retry") || "7");
    if (d.has("malformed")) {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end('{"candidates": [{"content": {"parts": [{"inlineData": {"mimeTy');
    }
    const usage = { promptTokenCount: 12, candidatesTokenCount: 1290, totalTokenCount: 1302 };
    if (d.has("block"))
      return send(res, 200, {
        promptFeedback: { blockReason: d.get("block") || "SAFETY" },
        usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 },
      });
    const wordsOnly = (finishReason: string) =>
      send(res, 200, {
        candidates: [
          {
            content: {
              role: "model",
              parts: finishReason === "STOP" ? [{ text: "I can't create that image." }] : [],
            },
            finishReason,
            index: 0,
          },
        ],
        usageMetadata: usage,
        modelVersion: model,
      });
    if (d.has("finish")) return wordsOnly(d.get("finish") || "IMAGE_SAFETY");
    if (d.has("words")) return wordsOnly("STOP");
    if (d.has("images")) {
      const made = imagesMade.get(prompt) ?? 0;
      if (made >= Number(d.get("images"))) return wordsOnly("STOP");
      imagesMade.set(prompt, made + 1);
    }

    // The ratio asked, else the first reference image's nearest one, else a square.
    let ratio = typeof asked === "string" ? asked : "1:1";
    if (asked === undefined && refRatios.length > 0) {
      const target = Math.log(refRatios[0]!);
      const v = (r: string) => Math.log(Number(r.split(":")[0]) / Number(r.split(":")[1]));
      ratio = RATIOS.reduce((a, b) => (Math.abs(v(b) - target) < Math.abs(v(a) - target) ? b : a));
    }
    const [w, h] = rules.pixels(ratio, typeof size === "string" ? size : "1K");
    const png = await sharp({
      create: { width: w, height: h, channels: 3, background: { r: 40, g: (w * 7) % 256, b: 160 } },
    })
      .png({ compressionLevel: 1 })
      .toBuffer();
    const answer = JSON.stringify({
      candidates: [
        {
          content: {
            role: "model",
            parts: [
              { text: "Here is your image." },
              { inlineData: { mimeType: "image/png", data: png.toString("base64") } },
            ],
          },
          finishReason: "STOP",
          index: 0,
        },
      ],
      usageMetadata: usage,
      modelVersion: model,
      responseId: `resp-${requests.length}`,
    });
    if (d.has("reset")) {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": String(answer.length),
      });
      res.write(answer.slice(0, Math.floor(answer.length / 2)));
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    res.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
    res.end(answer);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks)).catch(() => {
        if (!res.headersSent) fail(res, 500);
      });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    apiKey,
    requests,
    events,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
