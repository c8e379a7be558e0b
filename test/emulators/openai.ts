/**
 * A faithful loopback emulator of OpenAI's Images API (spec/upstreams.md §2), for the
 * `openai` provider's tests. Real HTTP on 127.0.0.1, real PNG/JPEG/WebP bytes (sharp).
 *
 * Like the real service it checks the bearer key, refuses unknown models (404) and
 * parameters (400), applies each family's rules (gpt-image-1: sizes 1024x1024,
 * 1536x1024, 1024x1536, auto; quality low/medium/high/auto; b64_json only, so
 * `response_format` is refused; dall-e-3: n = 1, standard/hd), answers b64_json or url
 * links it serves itself, and takes edits as multipart with `image[]` parts.
 *
 * Per-request behaviour comes from directives in the prompt, so tests run in parallel:
 *   [openai:error=<status>,code=<code>,type=<type>,retry-after=<s>,retry-after-ms=<ms>]
 *   [openai:moderate]  400 moderation_blocked (content_policy_violation on dall-e)
 *   [openai:quota]     429 insufficient_quota
 *   [openai:hang]      never answers          [openai:reset]  cuts the body mid-way
 *   [openai:malformed] 200 with broken JSON   [openai:delay=<ms>] answers late
 *   [openai:count=<k>] only k images          [openai:badimage] bytes that are no image
 *   [openai:badurl]    url items whose link serves HTML
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import sharp from "sharp";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  json?: Record<string, unknown>;
  form?: {
    fields: Record<string, string>;
    images: Array<{ field: string; type: string; bytes: number }>;
  };
}

export interface OpenAIEmulator {
  url: string;
  apiKey: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

type Family = "gpt-image" | "dall-e-3" | "dall-e-2" | "compatible";

const RULES: Record<
  Family,
  { promptMax: number; maxN: number; sizes: string[] | null; qualities: string[] }
> = {
  "gpt-image": {
    promptMax: 32_000,
    maxN: 10,
    sizes: ["auto", "1024x1024", "1536x1024", "1024x1536"],
    qualities: ["auto", "low", "medium", "high"],
  },
  "dall-e-3": {
    promptMax: 4000,
    maxN: 1,
    sizes: ["1024x1024", "1792x1024", "1024x1792"],
    qualities: ["auto", "standard", "hd"],
  },
  "dall-e-2": {
    promptMax: 1000,
    maxN: 10,
    sizes: ["256x256", "512x512", "1024x1024"],
    qualities: ["auto", "standard"],
  },
  // An OpenAI-compatible server for other models: any WxH, any quality.
  compatible: { promptMax: 32_000, maxN: 10, sizes: null, qualities: [] },
};

const KNOWN_FIELDS = new Set([
  "model",
  "prompt",
  "n",
  "size",
  "quality",
  "response_format",
  "output_format",
  "background",
  "style",
  "user",
  "moderation",
  "output_compression",
]);

/**
 * gpt-image-2's sizes: `auto`, or WxH with both sides multiples of 16, the longest at
 * most 3840, long/short at most 3:1, and 655,360..8,294,400 pixels in all.
 */
function gptImage2SizeOk(size: string): boolean {
  if (size === "auto") return true;
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m) return false;
  const w = Number(m[1]);
  const h = Number(m[2]);
  return (
    w % 16 === 0 &&
    h % 16 === 0 &&
    Math.max(w, h) <= 3840 &&
    Math.max(w, h) <= 3 * Math.min(w, h) &&
    w * h >= 655_360 &&
    w * h <= 8_294_400
  );
}

export function parseDirectives(prompt: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of prompt.matchAll(/\[openai:([^\]]*)\]/g)) {
    for (const part of m[1]!.split(",")) {
      const [k, v] = part.split("=");
      if (k) out.set(k.trim(), (v ?? "").trim());
    }
  }
  return out;
}

export async function renderImage(
  width: number,
  height: number,
  format: "png" | "jpeg" | "webp",
  seed: number,
): Promise<Buffer> {
  const img = sharp({
    create: {
      width,
      height,
      channels: 3,
      background: { r: (seed * 70) % 256, g: 120, b: (seed * 30 + 90) % 256 },
    },
  });
  return (format === "jpeg" ? img.jpeg() : format === "webp" ? img.webp() : img.png()).toBuffer();
}

export async function startOpenAIEmulator(
  opts: { apiKey?: string; compatibleModels?: string[] } = {},
): Promise<OpenAIEmulator> {
  const apiKey = opts.apiKey ?? `sk-emu-${randomBytes(8).toString("hex")}`;
  const compatible = new Set(opts.compatibleModels ?? []);
  const requests: RecordedRequest[] = [];
  const files = new Map<string, { data: Buffer; type: string }>();
  const sockets = new Set<Socket>();
  let base = "";

  const familyOf = (model: string): Family | null => {
    if (model === "gpt-image-1" || model === "gpt-image-1-mini" || model === "gpt-image-2")
      return "gpt-image";
    if (model === "dall-e-3") return "dall-e-3";
    if (model === "dall-e-2") return "dall-e-2";
    return compatible.has(model) ? "compatible" : null;
  };

  const sendJson = (
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
    message: string,
    code: string | null,
    type = "invalid_request_error",
    param: string | null = null,
    headers: Record<string, string> = {},
  ) => sendJson(res, status, { error: { message, type, param, code } }, headers);

  async function handleImages(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    endpoint: "generations" | "edits",
    raw: Buffer,
  ): Promise<void> {
    const record: RecordedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
    };
    requests.push(record);
    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return error(res, 401, "Incorrect API key provided: sk-****.", "invalid_api_key");

    let body: Record<string, unknown>;
    const images: Array<{ field: string; type: string; bytes: number }> = [];
    if (endpoint === "generations") {
      if (!String(req.headers["content-type"]).startsWith("application/json"))
        return error(res, 400, "Invalid content type.", null);
      try {
        body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
      } catch {
        return error(res, 400, "We could not parse the JSON body of your request.", null);
      }
      record.json = body;
    } else {
      let form: FormData;
      try {
        form = await new Response(raw, {
          headers: { "content-type": String(req.headers["content-type"]) },
        }).formData();
      } catch {
        return error(res, 400, "Invalid multipart body.", null);
      }
      body = {};
      for (const [k, v] of form.entries()) {
        if (typeof v === "string") body[k] = k === "n" ? Number(v) : v;
        else images.push({ field: k, type: v.type, bytes: v.size });
      }
      record.form = { fields: body as Record<string, string>, images };
    }

    const model = body.model;
    const family = typeof model === "string" ? familyOf(model) : null;
    if (!family)
      return error(res, 404, `The model '${String(model)}' does not exist.`, "model_not_found");
    const rules = RULES[family];
    for (const k of Object.keys(body))
      if (!KNOWN_FIELDS.has(k))
        return error(res, 400, `Unknown parameter: '${k}'.`, "unknown_parameter", undefined, k);
    const prompt = body.prompt;
    if (typeof prompt !== "string" || prompt === "")
      return error(
        res,
        400,
        "prompt is required.",
        "missing_required_parameter",
        undefined,
        "prompt",
      );
    if (prompt.length > rules.promptMax)
      return error(res, 400, "prompt is too long.", "string_above_max_length", undefined, "prompt");
    const n = body.n ?? 1;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > rules.maxN)
      return error(
        res,
        400,
        `n must be between 1 and ${rules.maxN}.`,
        "integer_above_max_value",
        undefined,
        "n",
      );
    const size =
      typeof body.size === "string" ? body.size : family === "gpt-image" ? "auto" : "1024x1024";
    const sizeOk =
      model === "gpt-image-2"
        ? gptImage2SizeOk(size)
        : rules.sizes
          ? rules.sizes.includes(size)
          : /^(auto|\d+x\d+)$/.test(size);
    if (!sizeOk)
      return error(res, 400, `Invalid value: '${size}'.`, "invalid_value", undefined, "size");
    if (model === "gpt-image-2" && body.background === "transparent")
      return error(
        res,
        400,
        "Transparent background is not supported for this model.",
        "invalid_value",
        undefined,
        "background",
      );
    const compression = body.output_compression;
    if (
      compression !== undefined &&
      !(
        Number.isInteger(Number(compression)) &&
        Number(compression) >= 0 &&
        Number(compression) <= 100
      )
    )
      return error(
        res,
        400,
        "output_compression must be between 0 and 100.",
        "invalid_value",
        undefined,
        "output_compression",
      );
    if (
      body.quality !== undefined &&
      rules.qualities.length &&
      !rules.qualities.includes(String(body.quality))
    )
      return error(
        res,
        400,
        `Invalid value: '${String(body.quality)}'.`,
        "invalid_value",
        undefined,
        "quality",
      );
    if (body.response_format !== undefined) {
      if (family === "gpt-image")
        return error(
          res,
          400,
          "Unknown parameter: 'response_format'.",
          "unknown_parameter",
          undefined,
          "response_format",
        );
      if (body.response_format !== "url" && body.response_format !== "b64_json")
        return error(
          res,
          400,
          "Invalid response_format.",
          "invalid_value",
          undefined,
          "response_format",
        );
    }
    const format = body.output_format ?? "png";
    if (body.output_format !== undefined && family !== "gpt-image" && family !== "compatible")
      return error(
        res,
        400,
        "Unknown parameter: 'output_format'.",
        "unknown_parameter",
        undefined,
        "output_format",
      );
    if (format !== "png" && format !== "jpeg" && format !== "webp")
      return error(res, 400, "Invalid output_format.", "invalid_value", undefined, "output_format");
    if (endpoint === "edits") {
      if (family === "dall-e-3")
        return error(res, 400, "Edits are not supported.", "invalid_value", undefined, "model");
      const field = family === "dall-e-2" ? "image" : "image[]";
      const parts = images.filter((i) => i.field === field);
      if (
        parts.length === 0 ||
        parts.length !== images.length ||
        parts.length > (family === "dall-e-2" ? 1 : 16)
      )
        return error(res, 400, "Invalid image parts.", "invalid_image", undefined, field);
      if (parts.some((p) => !/^image\/(png|jpeg|webp)$/.test(p.type)))
        return error(res, 400, "Invalid image file.", "invalid_image_format", undefined, field);
    }

    const d = parseDirectives(prompt);
    if (d.has("delay")) await new Promise((r) => setTimeout(r, Number(d.get("delay"))));
    if (d.has("hang")) return; // the socket stays open until close()
    if (d.has("error")) {
      const headers: Record<string, string> = {};
      if (d.get("retry-after")) headers["retry-after"] = d.get("retry-after")!;
      if (d.get("retry-after-ms")) headers["retry-after-ms"] = d.get("retry-after-ms")!;
      return error(
        res,
        Number(d.get("error")),
        "Emulated failure. Request id req_0123456789.",
        d.get("code") ?? null,
        d.get("type") ?? "server_error",
        null,
        headers,
      );
    }
    if (d.has("moderate"))
      return family === "gpt-image"
        ? error(
            res,
            400,
            "Your request was rejected by the safety system.",
            "moderation_blocked",
            "image_generation_user_error",
          )
        : error(
            res,
            400,
            "Your request was rejected as a result of our safety system.",
            "content_policy_violation",
          );
    if (d.has("quota"))
      return error(
        res,
        429,
        "You exceeded your current quota.",
        "insufficient_quota",
        "insufficient_quota",
      );
    if (d.has("malformed")) {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end('{"created": 1, "data": [{"b64_json": "iVBOR');
    }

    const [w, h] =
      size === "auto" ? [1024, 1024] : (size.split("x").map(Number) as [number, number]);
    const count = d.has("count") ? Math.min(n, Number(d.get("count"))) : n;
    const asUrl = body.response_format === "url" || d.has("badurl");
    const data: Array<Record<string, string>> = [];
    for (let i = 0; i < count; i++) {
      const bytes = d.has("badimage")
        ? Buffer.from("this is not an image")
        : await renderImage(w, h, format, i + prompt.length);
      if (asUrl) {
        const id = randomBytes(8).toString("hex");
        files.set(
          id,
          d.has("badurl")
            ? { data: Buffer.from("<html>nope</html>"), type: "text/html" }
            : { data: bytes, type: `image/${format}` },
        );
        data.push({ url: `${base}/files/${id}.${format}` });
      } else data.push({ b64_json: bytes.toString("base64") });
    }
    const answer = JSON.stringify({
      created: Math.floor(Date.now() / 1000),
      data,
      ...(family === "gpt-image"
        ? { usage: { total_tokens: 100, input_tokens: 50, output_tokens: 50 } }
        : {}),
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
    res.writeHead(200, { "content-type": "application/json" });
    res.end(answer);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const path = (req.url ?? "").split("?")[0]!;
      const handle = async () => {
        if (req.method === "POST" && path === "/v1/images/generations")
          return handleImages(req, res, "generations", raw);
        if (req.method === "POST" && path === "/v1/images/edits")
          return handleImages(req, res, "edits", raw);
        const file = /^\/files\/([0-9a-f]+)\.\w+$/.exec(path);
        if (req.method === "GET" && file && files.has(file[1]!)) {
          const f = files.get(file[1]!)!;
          res.writeHead(200, { "content-type": f.type, "content-length": f.data.length });
          return void res.end(f.data);
        }
        error(res, 404, "Not found.", null);
      };
      handle().catch(() => {
        if (!res.headersSent) error(res, 500, "The server had an error.", null, "server_error");
      });
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
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
