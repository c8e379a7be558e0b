/**
 * The file API (issue 16; docs/files.md), EvoLink's "File Management" on Darkroom's
 * own base URL with the same API keys:
 *
 *   POST   /api/v1/files/upload/base64   {base64_data, upload_path?, file_name?}
 *   POST   /api/v1/files/upload/stream   multipart: file, uploadPath|upload_path, fileName|file_name
 *   POST   /api/v1/files/upload/url      {file_url, upload_path?, file_name?}
 *   GET    /api/v1/files/list?page=&pageSize=
 *   DELETE /api/v1/files/{file_id}
 *   GET    /api/v1/files/quota
 *
 * Every answer, errors included (auth and rate limits too, same statuses and headers as
 * the rest of the API), is EvoLink's `{success, code, msg, data}`. Uploads are checked
 * by content (media/uploads.ts) and stored two-step (store/files.ts): reserve under
 * the quota, write, commit; bad input is refused before anything is written.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import multipart from "@fastify/multipart";
import { ApiError } from "../../core/errors.js";
import { FILE_ID_RE, newFileId } from "../../core/ids.js";
import type { MediaStorage } from "../../media/storage.js";
import {
  checkUploadContent,
  ownUploadId,
  readAtMost,
  storedFileName,
  UploadContentError,
  uploadFolder,
  uploadKey,
} from "../../media/uploads.js";
import { OutboundError } from "../../net/errors.js";
import type { SafeClient } from "../../net/safe-request.js";
import type { FileQuota, FileStore, UploadedFile } from "../../store/files.js";
import type { AuthGate } from "../plugins/auth.js";
import { installAuth } from "../plugins/auth.js";
import { fromFastify } from "../error-handler.js";

export interface FileApiSettings {
  ttlMs: number;
  maxBytes: number;
  quota: FileQuota;
}

export interface FileApiDeps {
  files: FileStore;
  media: MediaStorage;
  /** The safe outbound client, with the reference images' rules (upload/url). */
  outbound: SafeClient;
  settings: FileApiSettings;
  /** A signed link to a stored key, valid until `expiresMs` (the file's expiry). */
  uploadLink: (key: string, expiresMs: number) => string;
}

/** How long a reserved upload may take to be written before the janitor may take it. */
export const PENDING_UPLOAD_MS = 15 * 60_000;
const MAX_PAGE_SIZE = 100;
const UPLOAD_PATH_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** A refusal in the file API's own shape. */
export class FileApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

function send(reply: FastifyReply, status: number, msg: string, data: unknown = null) {
  return reply
    .code(status)
    .type("application/json; charset=utf-8")
    .send({ success: status < 300, code: status, msg, data });
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `data` of the file API's answers, as JSON Schema: what the OpenAPI document publishes. */
const exactObject = (properties: Record<string, unknown>) => ({
  type: "object",
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});
const text = { type: "string" } as const;
const count = { type: "integer", minimum: 0 } as const;
const limit = { type: ["integer", "null"], minimum: 0, description: "null: no limit." } as const;
const utc = { type: "string", format: "date-time" } as const;

/** One file, as fileView answers it. */
export const fileViewSchema = exactObject({
  file_id: text,
  file_name: text,
  original_name: text,
  file_size: count,
  mime_type: { type: "string", enum: ["image/jpeg", "image/png", "image/gif", "image/webp"] },
  upload_path: text,
  file_url: { ...text, description: "A signed link on /files/…, valid until `expires_at`." },
  download_url: text,
  upload_time: utc,
  expires_at: utc,
});

export const FILE_API_DATA_SCHEMAS = {
  list: exactObject({
    files: { type: "array", items: { $ref: "#/components/schemas/UploadedFile" } },
    total: count,
    page: { type: "integer", minimum: 1 },
    pageSize: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE },
  }),
  deleted: exactObject({ file_id: text }),
  quota: exactObject({
    user_group: text,
    used_files: count,
    max_files: limit,
    remain_files: limit,
    used_bytes: count,
    max_bytes: limit,
    remain_bytes: limit,
    max_file_bytes: count,
    is_custom: { const: false },
    quota_reason: { const: "" },
  }),
};

export function fileView(f: UploadedFile, link: FileApiDeps["uploadLink"]) {
  const fileUrl = link(f.key, f.expiresMs);
  return {
    file_id: f.id,
    file_name: f.fileName,
    original_name: f.originalName,
    file_size: f.bytes,
    mime_type: f.mimeType,
    upload_path: f.uploadPath,
    file_url: fileUrl,
    download_url: `${fileUrl}&download=1`,
    upload_time: iso(f.createdMs),
    expires_at: iso(f.expiresMs),
  };
}

function optionalText(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || value.length > 255)
    throw new FileApiError(400, `${name} must be a string of at most 255 characters.`);
  return value;
}

function uploadPathOf(value: unknown): string | undefined {
  const p = optionalText(value, "upload_path")?.replace(/^\/+|\/+$/g, "");
  if (p === undefined || p === "") return undefined;
  if (!UPLOAD_PATH_RE.test(p) || p.split("/").some((s) => s === "." || s === ".."))
    throw new FileApiError(
      400,
      "upload_path may hold only letters, digits, '.', '_', '-' and '/' between segments.",
    );
  return p;
}

function tooLarge(max: number): FileApiError {
  return new FileApiError(413, `The file is larger than the limit of ${max} bytes.`);
}

/** Decodes `base64_data` (plain or a data URL), refusing more than `max` bytes before decoding. */
export function decodeBase64Data(value: unknown, max: number): Buffer {
  if (typeof value !== "string" || value.trim() === "")
    throw new FileApiError(400, "base64_data is required: plain base64 or a data URL.");
  let text = value.trim();
  const m = /^data:([^,]*?),/i.exec(text);
  if (m) {
    if (!/;base64$/i.test(m[1]!))
      throw new FileApiError(400, "base64_data is a data URL that is not base64-encoded.");
    text = text.slice(m[0].length);
  }
  text = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text) || text.length % 4 === 1)
    throw new FileApiError(400, "base64_data is not valid base64.");
  if (
    Math.floor((text.length * 3) / 4) - (text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0) >
    max
  )
    throw tooLarge(max);
  const data = Buffer.from(text, "base64");
  if (data.length === 0) throw new FileApiError(400, "base64_data holds no bytes.");
  return data;
}

/** The file API's routes, under /api/v1/files, behind the same key checks as /v1. */
export function fileApiRoutes(app: FastifyInstance, gate: AuthGate, deps: FileApiDeps): void {
  const { files, media, settings } = deps;
  app.register(
    async (api) => {
      api.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
        if (err instanceof FileApiError) {
          if (err.headers) reply.headers(err.headers);
          return send(reply, err.status, err.message);
        }
        const known = err instanceof ApiError ? err : fromFastify(err);
        if (known) {
          if (known.headers) reply.headers(known.headers);
          return send(reply, known.status, known.message);
        }
        // @fastify/multipart's own refusals (malformed multipart, limits) are the client's.
        const status = err.statusCode ?? 500;
        if (status >= 400 && status < 500)
          return send(reply, status, "The multipart body is not valid.");
        req.log.error({ err }, "unhandled error");
        return send(reply, 500, "The server failed to handle the request.");
      });
      installAuth(api, gate);
      await api.register(multipart, {
        limits: {
          fileSize: settings.maxBytes,
          files: 2,
          fields: 10,
          fieldSize: 1024,
          parts: 12,
          headerPairs: 50,
        },
      });

      /** Checks, reserves, writes and commits one upload; refusals change nothing. */
      const ingest = async (
        accountId: string,
        data: Buffer,
        names: { fileName?: string; originalName?: string; uploadPath?: string },
      ) => {
        if (data.length > settings.maxBytes) throw tooLarge(settings.maxBytes);
        let checked;
        try {
          checked = await checkUploadContent(data);
        } catch (err) {
          if (err instanceof UploadContentError)
            throw new FileApiError(
              err.message.startsWith("The file is not") ? 415 : 400,
              err.message,
            );
          throw err;
        }
        const id = newFileId();
        const nowMs = Date.now();
        const fileName = storedFileName(names.fileName ?? names.originalName, checked.ext, id);
        const file: UploadedFile = {
          id,
          accountId,
          key: uploadKey(id, fileName),
          fileName,
          originalName: names.originalName ?? names.fileName ?? fileName,
          uploadPath: names.uploadPath ?? "images",
          mimeType: checked.mimeType,
          bytes: data.length,
          createdMs: nowMs,
          expiresMs: nowMs + settings.ttlMs,
        };
        const reserved = await files.reserveFile(
          file,
          nowMs + PENDING_UPLOAD_MS,
          settings.quota,
          nowMs,
        );
        if (reserved.kind === "quota_exceeded") {
          const { maxFiles, maxBytes } = settings.quota;
          throw new FileApiError(
            403,
            `File quota exhausted: this account holds ${reserved.usage.files} files ` +
              `(${reserved.usage.bytes} bytes) of at most ${maxFiles ?? "unlimited"} files ` +
              `(${maxBytes ?? "unlimited"} bytes). Delete files or wait for them to expire.`,
          );
        }
        try {
          await media.put(file.key, data, file.mimeType);
          if (!(await files.commitFile(id, Date.now())))
            throw new Error("upload reservation lapsed");
        } catch (err) {
          // The reservation expires on its own; removing it now gives the quota back.
          await media
            .remove(uploadFolder(id))
            .then(() => files.forgetFiles([id]))
            .catch(() => undefined);
          throw err;
        }
        return fileView(file, deps.uploadLink);
      };
      const uploaded = (reply: FastifyReply, view: ReturnType<typeof fileView>) =>
        send(reply, 200, "File uploaded successfully", view);
      const jsonBody = (req: FastifyRequest): Record<string, unknown> => {
        const b = req.body;
        if (typeof b !== "object" || b === null || Array.isArray(b))
          throw new FileApiError(400, "The request body must be a JSON object.");
        return b as Record<string, unknown>;
      };

      api.post(
        "/upload/base64",
        // Base64 is 4 bytes per 3, plus room for a data URL prefix and the other fields.
        { bodyLimit: Math.ceil(settings.maxBytes / 3) * 4 + 64 * 1024 },
        async (req, reply) => {
          const body = jsonBody(req);
          const fileName = optionalText(body.file_name, "file_name");
          const uploadPath = uploadPathOf(body.upload_path);
          const data = decodeBase64Data(body.base64_data, settings.maxBytes);
          return uploaded(
            reply,
            await ingest(req.principal.accountId, data, { fileName, uploadPath }),
          );
        },
      );

      api.post("/upload/url", async (req, reply) => {
        const body = jsonBody(req);
        const fileName = optionalText(body.file_name, "file_name");
        const uploadPath = uploadPathOf(body.upload_path);
        const url = body.file_url;
        let parsed: URL | null = null;
        try {
          parsed = typeof url === "string" ? new URL(url) : null;
        } catch {
          parsed = null;
        }
        if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:"))
          throw new FileApiError(400, "file_url must be an http or https URL.");
        let data: Buffer;
        try {
          const res = await deps.outbound.request(parsed.href, {
            maxBytes: settings.maxBytes,
            timeoutMs: 30_000,
            connectTimeoutMs: 5000,
            throwOnHttpError: true,
            headers: { accept: "image/*" },
          });
          data = res.body;
        } catch (err) {
          if (err instanceof OutboundError && err.reason === "too_large")
            throw tooLarge(settings.maxBytes);
          if (err instanceof OutboundError)
            throw new FileApiError(400, `file_url could not be fetched: ${err.clause}.`);
          throw err;
        }
        const last = decodeURIComponent(parsed.pathname.split("/").pop() ?? "") || undefined;
        return uploaded(
          reply,
          await ingest(req.principal.accountId, data, { fileName, uploadPath, originalName: last }),
        );
      });

      api.post("/upload/stream", async (req, reply) => {
        if (!req.isMultipart())
          throw new FileApiError(415, "Send the file as multipart/form-data, in the field `file`.");
        const fields: Record<string, string> = {};
        let data: Buffer | null = null;
        let originalName: string | undefined;
        for await (const part of req.parts()) {
          if (part.type === "field") {
            if (typeof part.value === "string") fields[part.fieldname] = part.value;
            continue;
          }
          if (data !== null || part.fieldname !== "file") {
            part.file.resume();
            throw new FileApiError(400, "Send exactly one image, in the field `file`.");
          }
          // busboy stops the part at the size limit (and marks it truncated): at most
          // maxBytes are ever held.
          data = await readAtMost(part.file, settings.maxBytes);
          if (part.file.truncated || data.length > settings.maxBytes)
            throw tooLarge(settings.maxBytes);
          originalName = part.filename || undefined;
        }
        if (data === null)
          throw new FileApiError(400, "Send the image in the multipart field `file`.");
        const fileName = optionalText(fields.fileName ?? fields.file_name, "file_name");
        const uploadPath = uploadPathOf(fields.uploadPath ?? fields.upload_path);
        return uploaded(
          reply,
          await ingest(req.principal.accountId, data, { fileName, uploadPath, originalName }),
        );
      });

      api.get<{ Querystring: Record<string, string | undefined> }>("/list", async (req, reply) => {
        const int = (raw: string | undefined, name: string, fallback: number, max: number) => {
          if (raw === undefined || raw === "") return fallback;
          const n = Number(raw);
          if (!Number.isInteger(n) || n < 1 || n > max)
            throw new FileApiError(400, `${name} must be a whole number from 1 to ${max}.`);
          return n;
        };
        const page = int(req.query.page, "page", 1, 1_000_000);
        const pageSize = int(
          req.query.pageSize ?? req.query.page_size,
          "pageSize",
          20,
          MAX_PAGE_SIZE,
        );
        const result = await files.listFiles(req.principal.accountId, page, pageSize, Date.now());
        return send(reply, 200, "OK", {
          files: result.files.map((f) => fileView(f, deps.uploadLink)),
          total: result.total,
          page,
          pageSize,
        });
      });

      api.delete<{ Params: { file_id: string } }>("/:file_id", async (req, reply) => {
        const id = req.params.file_id;
        const gone = FILE_ID_RE.test(id)
          ? await files.expireFile(req.principal.accountId, id, Date.now())
          : null;
        if (!gone) throw new FileApiError(404, "File not found.");
        // Expired already; the bytes and the row go now, or at the janitor's next round.
        try {
          await media.remove(uploadFolder(id));
          await files.forgetFiles([id]);
        } catch (err) {
          req.log.warn({ err, file_id: id }, "removing a deleted file failed; the janitor retries");
        }
        return send(reply, 200, "File deleted successfully", { file_id: id });
      });

      api.get("/quota", async (req, reply) => {
        const usage = await files.fileUsage(req.principal.accountId, Date.now());
        const { maxFiles, maxBytes } = settings.quota;
        return send(reply, 200, "OK", {
          user_group: req.principal.groupName,
          used_files: usage.files,
          max_files: maxFiles,
          remain_files: maxFiles === null ? null : Math.max(0, maxFiles - usage.files),
          used_bytes: usage.bytes,
          max_bytes: maxBytes,
          remain_bytes: maxBytes === null ? null : Math.max(0, maxBytes - usage.bytes),
          max_file_bytes: settings.maxBytes,
          is_custom: false,
          quota_reason: "",
        });
      });
    },
    { prefix: "/api/v1/files" },
  );
}

/**
 * The submission's check of `image_urls` that link to this Darkroom's uploads: each
 * must be a live file of the submitting account (read from storage later, never
 * fetched). Another account's, an expired or a deleted file: a 400 naming the entry.
 */
export function ownImageUrlsCheck(
  files: Pick<FileStore, "getFile">,
  publicBase: () => string,
): (accountId: string, urls: readonly string[], nowMs: number) => Promise<ApiError | null> {
  return async (accountId, urls, nowMs) => {
    for (const [i, url] of urls.entries()) {
      const id = ownUploadId(url, publicBase());
      if (id === null) continue;
      if (!(await files.getFile(accountId, id, nowMs)))
        return new ApiError(
          "invalid_request",
          `image_urls[${i}] is an uploaded file that does not exist, has expired or was deleted.`,
          { param: "image_urls" },
        );
    }
    return null;
  };
}
