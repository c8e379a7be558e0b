/**
 * `--image ./local.png`: a local reference image goes up through EvoLink's file API
 * (`POST /api/v1/files/upload/stream`, multipart field `file`) and its `file_url` is
 * then used as an `image_urls` entry. The file is judged by its bytes, as the server
 * will judge it: only JPEG, PNG, GIF and WebP, refused here before any request.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { FORMAT_CONTENT_TYPES, sniffImageFormat } from "../media/image-format.js";
import { readAnswer, scrub, type ApiTarget } from "./api-client.js";
import { CliError, EXIT } from "./exit-codes.js";
import { fetchWithRetry } from "./http-retry.js";

const UPLOADABLE = new Set(["jpeg", "png", "gif", "webp"] as const);

export interface LocalImage {
  path: string;
  name: string;
  contentType: string;
  data: Buffer;
}

/** Reads and checks every file first, so a bad one stops the command before anything is sent. */
export async function readLocalImages(files: string[]): Promise<LocalImage[]> {
  return Promise.all(
    files.map(async (file) => {
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new CliError(`${file}: cannot read (${code ?? String(e)})`, EXIT.badInput);
      }
      const format = sniffImageFormat(data);
      if (!format || !(UPLOADABLE as Set<string>).has(format))
        throw new CliError(
          `${file}: only JPEG, PNG, GIF and WebP images can be uploaded (judged by content, this is ${format ? format.toUpperCase() : "not an image"})`,
          EXIT.badInput,
        );
      return {
        path: file,
        name: path.basename(file),
        contentType: FORMAT_CONTENT_TYPES[format],
        data,
      };
    }),
  );
}

interface UploadAnswer {
  success?: boolean;
  code?: number | string;
  msg?: string;
  data?: { file_id?: string; file_url?: string };
}

/** Uploads one image and returns its `file_url`. Not retried: a repeat would store it twice. */
export async function uploadImage(t: ApiTarget, image: LocalImage): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob([image.data], { type: image.contentType }), image.name);
  const res = await fetchWithRetry(
    `${t.filesUrl}/api/v1/files/upload/stream`,
    { method: "POST", headers: { authorization: `Bearer ${t.key}` }, body: form },
    { retry: false, timeoutMs: 120_000 },
  ).catch((e: unknown) => {
    throw scrub(t, e);
  });
  const answer = await readAnswer<UploadAnswer>(t, res, `upload of ${image.path}`);
  const url = answer.data?.file_url;
  if (answer.success === false || typeof url !== "string")
    throw scrub(
      t,
      new CliError(
        `upload of ${image.path} refused: ${answer.msg ?? "no file_url in the answer"}`,
        EXIT.badInput,
      ),
    );
  return url;
}
