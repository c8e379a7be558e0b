/**
 * FsStorage.put durability and clean failure. A power loss cannot be simulated here:
 * what is checked is that the file and then its directories are fsynced in the right
 * order (observed through the real file handles, on Linux via /proc/self/fd), that no
 * temp file is left behind, and that a failed put rejects without leaving anything
 * under the key.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { FsStorage } from "../../src/media/fs-storage.js";

const root = mkdtempSync(path.join(tmpdir(), "darkroom-fs-durable-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Every file (recursively) under dir, relative, sorted. */
function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Records what each FileHandle.sync() flushed: the path, and whether the key existed then. */
async function recordSyncs(
  target: string,
): Promise<Array<{ path: string; targetExists: boolean }>> {
  const probe = await open(root, "r");
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const seen: Array<{ path: string; targetExists: boolean }> = [];
  const original = proto.sync;
  vi.spyOn(proto, "sync").mockImplementation(function (this: { fd: number }) {
    seen.push({ path: readlinkSync(`/proc/self/fd/${this.fd}`), targetExists: existsSync(target) });
    return original.call(this);
  });
  return seen;
}

describe("FsStorage.put", () => {
  it("stores the exact bytes and leaves no temp file", async () => {
    const fs = new FsStorage(root);
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    await fs.put("images/task-a/0.png", data, "image/png");
    expect(readFileSync(path.join(root, "images/task-a/0.png")).equals(data)).toBe(true);
    await fs.put("images/task-a/0.png", Buffer.from("v2"), "image/png");
    expect(readFileSync(path.join(root, "images/task-a/0.png"), "utf8")).toBe("v2");
    expect(listAll(root).filter((f) => f.startsWith("images/task-a"))).toEqual([
      "images/task-a/0.png",
    ]);
  });

  it.runIf(existsSync("/proc/self/fd"))(
    "fsyncs the file before the rename, then the directory, then new parents",
    async () => {
      const fs = new FsStorage(root);
      mkdirSync(path.join(root, "images"), { recursive: true });
      const target = path.join(root, "images/task-b/0.jpg");
      const seen = await recordSyncs(target);
      await fs.put("images/task-b/0.jpg", Buffer.from("jpeg"), "image/jpeg");
      // 1. the temp file, before it is renamed over the key
      expect(seen[0]!.path).toMatch(/images\/task-b\/0\.jpg\.[0-9a-f]+\.tmp$/);
      expect(seen[0]!.targetExists).toBe(false);
      // 2. its directory after the rename; 3. the new directory's parent
      expect(seen.slice(1)).toEqual([
        { path: path.join(root, "images/task-b"), targetExists: true },
        { path: path.join(root, "images"), targetExists: true },
      ]);

      // A second image in the same (existing) directory: no parent sync needed.
      seen.length = 0;
      await fs.put("images/task-b/1.jpg", Buffer.from("jpeg"), "image/jpeg");
      expect(
        seen.map((s) => path.relative(root, s.path).replace(/\.[0-9a-f]+\.tmp$/, ".tmp")),
      ).toEqual(["images/task-b/1.jpg.tmp", "images/task-b"]);
    },
  );

  it("rejects and leaves nothing when the directory cannot be created", async () => {
    const base = mkdtempSync(path.join(root, "blocked-"));
    writeFileSync(path.join(base, "images"), "a file where a directory should be");
    const fs = new FsStorage(base);
    await expect(fs.put("images/task-c/0.jpg", Buffer.from("x"), "image/jpeg")).rejects.toThrow();
    expect(listAll(base)).toEqual(["images"]);
  });

  it("rejects and removes its temp file when the rename fails after the write", async () => {
    const base = mkdtempSync(path.join(root, "rename-"));
    // The key is taken by a non-empty directory: the bytes are written, the rename fails.
    mkdirSync(path.join(base, "images/task-d/0.jpg"), { recursive: true });
    writeFileSync(path.join(base, "images/task-d/0.jpg/keep"), "k");
    const fs = new FsStorage(base);
    await expect(fs.put("images/task-d/0.jpg", Buffer.from("x"), "image/jpeg")).rejects.toThrow();
    expect(listAll(base)).toEqual(["images/task-d/0.jpg/keep"]);
  });
});
