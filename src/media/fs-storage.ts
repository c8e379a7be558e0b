/**
 * Files on local disk. Writes are atomic (temp file, fsync, rename), so a crash never
 * leaves a half-written image under a real key; reads stream from disk.
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat, unlink } from "node:fs/promises";
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
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    const fh = await open(tmp, "w", 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await rename(tmp, target);
  }

  async open(key: string): Promise<StoredFile | null> {
    let p: string;
    try {
      p = this.pathOf(key);
    } catch {
      return null;
    }
    try {
      const st = await stat(p);
      if (!st.isFile()) return null;
      return { stream: createReadStream(p), bytes: st.size, contentType: contentTypeOf(key) };
    } catch {
      return null;
    }
  }

  async remove(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix), { recursive: true, force: true });
  }
}
