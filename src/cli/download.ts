/**
 * Saves a finished task's images: `<task id>-<index>.<ext>` in the chosen folder, the
 * extension from the answer's Content-Type, streamed to disk. An existing file is never
 * overwritten (the name gets `-1`, `-2`… instead), and a download that breaks off leaves
 * no partial file. Result links are fetched without the API key: they are signed links,
 * possibly on another host, and need none.
 */
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, EXIT, exitCodeForStatus } from "./exit-codes.js";
import { backoffMs, fetchWithRetry } from "./http-retry.js";

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/gif": "gif",
  "image/bmp": "bmp",
  "image/tiff": "tiff",
  "image/avif": "avif",
};

const DOWNLOAD_TIMEOUT_MS = 300_000;
const ATTEMPTS = 3;

/** The file extension for a Content-Type, else the link's own, else `bin`. */
export function extensionFor(contentType: string | null, url: string): string {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type && EXTENSIONS[type]) return EXTENSIONS[type];
  let fromPath: string | undefined;
  try {
    fromPath = /\.([a-z0-9]{2,5})$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
  } catch {
    fromPath = undefined;
  }
  return fromPath ?? "bin";
}

export async function downloadResults(
  taskId: string,
  urls: string[],
  outDir: string,
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const saved: string[] = [];
  // One at a time: a handful of images, and the order of the printed paths is the results'.
  for (const [i, url] of urls.entries())
    saved.push(await downloadOne(url, outDir, `${taskId}-${i}`));
  return saved;
}

async function downloadOne(url: string, outDir: string, stem: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetchWithRetry(
      url,
      { method: "GET" },
      { retry: true, timeoutMs: DOWNLOAD_TIMEOUT_MS },
    );
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new CliError(
        `download of result ${stem} failed: HTTP ${res.status}`,
        res.status === 403 || res.status === 404 ? EXIT.badInput : exitCodeForStatus(res.status),
      );
    }
    const file = await writeNew(
      outDir,
      stem,
      extensionFor(res.headers.get("content-type"), url),
      res.body as WebReadableStream<Uint8Array>,
    ).catch((e: unknown) => ({ error: e }));
    if (typeof file === "string") return file;
    if (attempt >= ATTEMPTS || isLocalWriteError(file.error))
      throw new CliError(
        `download of result ${stem} failed: ${file.error instanceof Error ? file.error.message : String(file.error)}`,
        isLocalWriteError(file.error) ? EXIT.badInput : EXIT.unavailable,
      );
    await sleep(backoffMs(attempt));
  }
}

/** Streams into the first free name; removes the file again if the stream breaks off. */
async function writeNew(
  dir: string,
  stem: string,
  ext: string,
  body: WebReadableStream<Uint8Array>,
): Promise<string> {
  for (let n = 0; ; n++) {
    const file = path.join(dir, n === 0 ? `${stem}.${ext}` : `${stem}-${n}.${ext}`);
    const out = createWriteStream(file, { flags: "wx" });
    const opened = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      out.once("open", () => resolve(null));
      out.once("error", (e: NodeJS.ErrnoException) => resolve(e));
    });
    if (opened?.code === "EEXIST") continue;
    if (opened) {
      await body.cancel();
      throw opened;
    }
    try {
      await pipeline(Readable.fromWeb(body), out);
      return file;
    } catch (e) {
      await rm(file, { force: true });
      throw e;
    }
  }
}

/** Errors of the local disk (no space, no permission), which a retry will not cure. */
function isLocalWriteError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && /^E(ACCES|PERM|NOSPC|ROFS|NOTDIR|ISDIR|DQUOT)$/.test(code);
}
