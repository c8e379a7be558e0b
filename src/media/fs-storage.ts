/**
 * Files on local disk. Writes are durable before put resolves: the file and its
 * directory fsync'd, so the image survives a power loss (the runner marks a task
 * completed only after that). A new key is written in place; an existing one is replaced
 * atomically through a temp file, so a key a finished task refers to never holds a torn
 * image (durable-files.ts says why). They are made in batches on a thread of their own
 * (file-writer.ts). Reads stream from disk.
 */
import { open, readdir, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { fileWriter } from "./file-writer.js";
import {
  assertValidKey,
  contentTypeOf,
  type MediaStorage,
  type PutOptions,
  type StoredFile,
} from "./storage.js";

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

  warm(): Promise<void> {
    return fileWriter().warm();
  }

  async put(key: string, data: Buffer, _contentType?: string, opts?: PutOptions): Promise<void> {
    await fileWriter().write(this.pathOf(key), data, opts?.handOver === true);
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

  async listFolders(prefix: string): Promise<string[]> {
    return (await this.entries(prefix)).filter((e) => e.isDirectory()).map((e) => e.name);
  }

  async listFiles(folder: string): Promise<string[]> {
    return (await this.entries(folder)).filter((e) => e.isFile()).map((e) => `${folder}/${e.name}`);
  }

  async removeFiles(keys: readonly string[]): Promise<void> {
    for (const key of keys) await rm(this.pathOf(key), { force: true });
  }

  private async entries(prefix: string) {
    try {
      return await readdir(this.pathOf(prefix), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }
}
