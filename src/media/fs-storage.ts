/**
 * Files on local disk. Writes are atomic and durable: temp file, fsync it, rename over
 * the key, fsync the directory (and, for a directory just created, its parents), so a
 * crash never leaves a half-written image under a real key, and once put resolves the
 * image survives a power loss (the runner marks a task completed only after that).
 * Reads stream from disk.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { assertValidKey, contentTypeOf, type MediaStorage, type StoredFile } from "./storage.js";

export class FsStorage implements MediaStorage {
  private readonly root: string;

  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    const p = path.resolve(this.root, key);
    if (!p.startsWith(this.root + path.sep)) throw new Error("invalid storage key");
    return p;
  }

  async put(key: string, data: Buffer, _contentType?: string): Promise<void> {
    const target = this.pathOf(key);
    const dir = path.dirname(target);
    // The first directory mkdir created, if any: new entries up to there need an fsync.
    const created = await mkdir(dir, { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      const fh = await open(tmp, "wx", 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await syncDir(dir);
    if (created !== undefined) {
      // Each new directory's entry lives in its parent: sync from dir's parent up to
      // the parent of the first one created.
      for (let d = dir; d !== path.dirname(created);) {
        d = path.dirname(d);
        await syncDir(d);
      }
    }
  }

  async open(key: string): Promise<StoredFile | null> {
    let p: string;
    try {
      p = this.pathOf(key);
    } catch {
      return null;
    }
    // Open first and describe what was opened: the size and the bytes streamed belong
    // to the same file even if the key is rewritten or removed meanwhile, and no lazy
    // open can fail later, outside the caller's error handling.
    let fh: FileHandle;
    try {
      fh = await open(p, "r");
    } catch {
      return null;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        return null;
      }
      return { stream: fh.createReadStream(), bytes: st.size, contentType: contentTypeOf(key) };
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  async remove(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix), { recursive: true, force: true });
  }
}

/**
 * Flushes a directory's entries (a rename or a new child) to disk. Where directories
 * cannot be opened for fsync (Windows), there is nothing more to do.
 */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
  } catch (e) {
    if (isCode(e, "EISDIR", "EPERM", "EACCES")) return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (!isCode(e, "EINVAL", "ENOTSUP", "EBADF")) throw e;
  } finally {
    await fh.close();
  }
}

function isCode(e: unknown, ...codes: string[]): boolean {
  return typeof e === "object" && e !== null && codes.includes((e as { code?: string }).code ?? "");
}
