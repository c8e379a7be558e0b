/**
 * Uploaded files (the file API, issue 16) in media storage: where their bytes go, what
 * they are, and how their links are recognised when they come back as `image_urls`.
 *
 * - Each file has a folder of its own, `uploads/<file_id>/<file name>`: removing the
 *   folder removes the file and any temp file an interrupted write left beside it.
 * - What a file is comes from its bytes, never its name or a declared type: the magic
 *   number must say JPEG, PNG, GIF or WebP and libvips must read the header as the
 *   same format with real dimensions.
 * - Links are Darkroom's own signed links (`/files/uploads/…?exp=&sig=`, the result
 *   links' route) expiring with the file, so they work without a key until the file
 *   expires, like EvoLink's. One under DARKROOM_PUBLIC_URL is recognised by its file id.
 */
import sharp from "sharp";
import { FILE_ID_RE } from "../core/ids.js";
import { sniffImageFormat } from "./image-format.js";

export const UPLOADS_PREFIX = "uploads";

export type UploadFormat = "jpeg" | "png" | "gif" | "webp";

export const UPLOAD_TYPES: Record<UploadFormat, { mime: string; ext: string }> = {
  jpeg: { mime: "image/jpeg", ext: "jpg" },
  png: { mime: "image/png", ext: "png" },
  gif: { mime: "image/gif", ext: "gif" },
  webp: { mime: "image/webp", ext: "webp" },
};

export interface CheckedUpload {
  format: UploadFormat;
  mimeType: string;
  ext: string;
  width: number;
  height: number;
}

/** Why an upload's bytes were refused, in one sentence for the client. */
export class UploadContentError extends Error {
  override name = "UploadContentError";
}

/** What the bytes are, or UploadContentError. Reads headers only (no full decode). */
export async function checkUploadContent(data: Buffer): Promise<CheckedUpload> {
  if (data.length === 0) throw new UploadContentError("The file is empty.");
  const sniffed = sniffImageFormat(data);
  if (sniffed !== "jpeg" && sniffed !== "png" && sniffed !== "gif" && sniffed !== "webp")
    throw new UploadContentError(
      "The file is not a supported image: only JPEG, PNG, GIF and WebP are accepted (judged by content).",
    );
  let width = 0;
  let height = 0;
  try {
    const meta = await sharp(data, { limitInputPixels: false }).metadata();
    // libvips must agree with the magic number (no polyglot picking another loader).
    if (meta.format !== sniffed) throw new Error("format mismatch");
    width = meta.width ?? 0;
    height = meta.pageHeight ?? meta.height ?? 0;
  } catch {
    throw new UploadContentError(`The file could not be read as a ${sniffed.toUpperCase()} image.`);
  }
  if (!(width > 0 && height > 0))
    throw new UploadContentError("The image has no valid dimensions.");
  const { mime, ext } = UPLOAD_TYPES[sniffed];
  return { format: sniffed, mimeType: mime, ext, width, height };
}

/**
 * A storage-safe file name: the last path segment of `wanted`, unsafe characters
 * replaced, its extension the content's own (a JPEG named `photo.txt` is stored as
 * `photo.jpg`). Empty or unusable → `fallback.<ext>`.
 */
export function storedFileName(wanted: string | undefined, ext: string, fallback: string): string {
  const base = (wanted ?? "").split(/[\\/]/).pop() ?? "";
  const stem = base
    .replace(/\.[^.]*$/, "")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^[._]+/, "")
    .slice(0, 100);
  return `${stem || fallback}.${ext}`;
}

export function uploadFolder(fileId: string): string {
  return `${UPLOADS_PREFIX}/${fileId}`;
}

export function uploadKey(fileId: string, fileName: string): string {
  return `${uploadFolder(fileId)}/${fileName}`;
}

/**
 * The file id of a link to an uploaded file served by this Darkroom (`publicBase` is
 * DARKROOM_PUBLIC_URL or the listening address), or null for any other URL.
 */
export function ownUploadId(url: string, publicBase: string): string | null {
  if (!publicBase) return null;
  let u: URL;
  let base: URL;
  try {
    u = new URL(url);
    base = new URL(publicBase);
  } catch {
    return null;
  }
  if (u.origin !== base.origin) return null;
  const prefix = `${base.pathname.replace(/\/+$/, "")}/files/${UPLOADS_PREFIX}/`;
  if (!u.pathname.startsWith(prefix)) return null;
  const id = u.pathname.slice(prefix.length).split("/")[0] ?? "";
  return FILE_ID_RE.test(id) ? id : null;
}

/** Reads up to `max` bytes of a stream (then stops it); more than that is truncated at max + 1. */
export async function readAtMost(
  stream: NodeJS.ReadableStream & { destroy(): void },
  max: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(b);
      size += b.length;
      if (size > max) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, size).subarray(0, Math.min(size, max + 1));
}

/**
 * The reference loader's source for our own uploads (reference-images.ts): a link
 * recognised by ownUploadId is read from storage, never fetched. `findLive` answers the
 * file's storage key while it is live (the submission already checked it was the
 * submitter's); null once it expired or was deleted.
 */
export function createOwnImageSource(deps: {
  publicBase: () => string;
  findLive: (fileId: string) => Promise<{ key: string } | null>;
  media: {
    open(key: string): Promise<{ stream: NodeJS.ReadableStream & { destroy(): void } } | null>;
  };
}): OwnImageSource {
  return {
    recognises: (url) => ownUploadId(url, deps.publicBase()) !== null,
    async read(url, maxBytes) {
      const id = ownUploadId(url, deps.publicBase());
      const file = id ? await deps.findLive(id) : null;
      const opened = file ? await deps.media.open(file.key) : null;
      return opened ? readAtMost(opened.stream, maxBytes) : null;
    },
  };
}

/** Reference images that are this Darkroom's own uploads: read from storage, never fetched. */
export interface OwnImageSource {
  /** True when `url` names one of our uploaded files (then `read` answers it, not the network). */
  recognises(url: string): boolean;
  /** The file's bytes (beyond maxBytes cut at maxBytes + 1), or null when it is gone. */
  read(url: string, maxBytes: number): Promise<Buffer | null>;
}
