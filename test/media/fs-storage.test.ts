/**
 * FsStorage.put durability and clean failure. A power loss cannot be simulated here:
 * what is checked is that the file and then its directories are fsynced in the right
 * order, once per directory for a batch (observed on the real file system through the
 * descriptors, on Linux via /proc/self/fd), that no temp file is left behind, and that
 * a failed put rejects without leaving anything under the key.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Worker } from "node:worker_threads";
import { writeFilesDurably, type SyncFs } from "../../src/media/durable-files.js";
import { FileWriter } from "../../src/media/file-writer.js";
import { FsStorage } from "../../src/media/fs-storage.js";

const root = mkdtempSync(path.join(tmpdir(), "darkroom-fs-durable-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every file (recursively) under dir, relative, sorted. */
function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * The real file system, with every fsync recorded: the path it flushed (through
 * /proc/self/fd) and whether the key existed at that moment.
 */
function recordingFs(target: string): {
  fs: SyncFs;
  seen: Array<{ path: string; targetExists: boolean }>;
} {
  const seen: Array<{ path: string; targetExists: boolean }> = [];
  return {
    seen,
    fs: withFsync((fd) => {
      seen.push({ path: readlinkSync(`/proc/self/fd/${fd}`), targetExists: existsSync(target) });
      fsyncSync(fd);
    }),
  };
}

/** The real file system, with `fsync` in place of fsyncSync. */
function withFsync(fsync: (fd: number) => void): SyncFs {
  return {
    mkdirSync,
    openSync,
    writeSync,
    closeSync,
    renameSync,
    unlinkSync,
    fstatSync,
    statSync,
    fsyncSync: fsync,
  };
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
    "fsyncs a new file in place, then its directory, then new parents",
    () => {
      mkdirSync(path.join(root, "images"), { recursive: true });
      const target = path.join(root, "images/task-b/0.jpg");
      const { fs, seen } = recordingFs(target);
      expect(writeFilesDurably([{ target, data: Buffer.from("jpeg") }], fs)).toEqual([
        { ok: true },
      ]);
      // 1. the file under its own name (nobody refers to it before the batch returns),
      // 2. its directory, 3. the new directory's parent
      expect(seen).toEqual([
        { path: target, targetExists: true },
        { path: path.join(root, "images/task-b"), targetExists: true },
        { path: path.join(root, "images"), targetExists: true },
      ]);

      // A second image in the same (existing) directory: no parent sync needed.
      seen.length = 0;
      const second = path.join(root, "images/task-b/1.jpg");
      writeFilesDurably([{ target: second, data: Buffer.from("jpeg") }], fs);
      expect(seen.map((s) => path.relative(root, s.path))).toEqual([
        "images/task-b/1.jpg",
        "images/task-b",
      ]);
    },
  );

  it.runIf(existsSync("/proc/self/fd"))(
    "replaces an existing file through a temp file fsynced before the rename",
    () => {
      const target = path.join(root, "images/task-r/0.jpg");
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, "old");
      const seen: Array<{ path: string; content: string }> = [];
      const fs = withFsync((fd) => {
        seen.push({
          path: readlinkSync(`/proc/self/fd/${fd}`),
          content: readFileSync(target, "utf8"),
        });
        fsyncSync(fd);
      });
      expect(writeFilesDurably([{ target, data: Buffer.from("new") }], fs)).toEqual([{ ok: true }]);
      // The temp file was flushed while the key still held the old bytes; then the folder.
      expect(seen[0]!.path).toMatch(/images\/task-r\/0\.jpg\.[0-9a-f]+\.tmp$/);
      expect(seen[0]!.content).toBe("old");
      expect(seen.slice(1)).toEqual([{ path: path.dirname(target), content: "new" }]);
      expect(readdirSync(path.dirname(target))).toEqual(["0.jpg"]);
    },
  );

  it("removes a new file it could not finish, and leaves another writer's file alone", () => {
    const base = mkdtempSync(path.join(root, "torn-"));
    const target = path.join(base, "0.jpg");
    const failingWrite = {
      ...withFsync(fsyncSync),
      writeSync: (() => {
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), {
          code: "ENOSPC",
        });
      }) as unknown as SyncFs["writeSync"],
    };
    expect(writeFilesDurably([{ target, data: Buffer.from("x") }], failingWrite)[0]).toMatchObject({
      ok: false,
      code: "ENOSPC",
    });
    expect(readdirSync(base)).toEqual([]);

    // Another writer replaced the name while this one was failing: its file stays.
    const racing = {
      ...withFsync((fd) => {
        writeFileSync(`${target}.other`, "theirs");
        renameSync(`${target}.other`, target);
        void fd;
        throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      }),
    };
    expect(writeFilesDurably([{ target, data: Buffer.from("mine") }], racing)[0]).toMatchObject({
      ok: false,
      code: "EIO",
    });
    expect(readFileSync(target, "utf8")).toBe("theirs");
  });

  it.runIf(existsSync("/proc/self/fd"))(
    "syncs each directory once for a whole batch, after every file in it was written",
    () => {
      mkdirSync(path.join(root, "images"), { recursive: true });
      const files = ["task-e/0.jpg", "task-e/1.jpg", "task-f/0.jpg"].map((k) => ({
        target: path.join(root, "images", k),
        data: Buffer.from(k),
      }));
      const { fs, seen } = recordingFs(files[1]!.target);
      expect(writeFilesDurably(files, fs)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
      const synced = seen.map((s) => path.relative(root, s.path));
      expect(synced).toEqual([
        "images/task-e/0.jpg",
        "images/task-e/1.jpg",
        "images/task-f/0.jpg",
        "images/task-e",
        "images",
        "images/task-f",
      ]);
      // Every directory sync came after the last file written into it.
      expect(seen.slice(3).every((s) => s.targetExists)).toBe(true);
      for (const f of files)
        expect(readFileSync(f.target, "utf8")).toBe(
          path.relative(path.join(root, "images"), f.target),
        );
    },
  );

  it("fails only the file that breaks, and a directory's files when its sync fails", () => {
    const base = mkdtempSync(path.join(root, "partial-"));
    writeFileSync(path.join(base, "blocked"), "a file where a directory should be");
    const good = path.join(base, "ok/0.jpg");
    const bad = path.join(base, "blocked/0.jpg");
    const out = writeFilesDurably([
      { target: bad, data: Buffer.from("x") },
      { target: good, data: Buffer.from("y") },
    ]);
    expect(out[0]).toMatchObject({ ok: false, code: expect.stringMatching(/^E(NOTDIR|EXIST)$/) });
    expect(out[1]).toEqual({ ok: true });
    expect(readFileSync(good, "utf8")).toBe("y");

    const failingDirSync = withFsync((fd) => {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path.join(base, "eio")) {
        throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      }
      fsyncSync(fd);
    });
    const out2 = writeFilesDurably(
      [
        { target: path.join(base, "eio/0.jpg"), data: Buffer.from("z") },
        { target: path.join(base, "ok/1.jpg"), data: Buffer.from("w") },
      ],
      failingDirSync,
    );
    expect(out2[0]).toMatchObject({ ok: false, code: "EIO" });
    expect(out2[1]).toEqual({ ok: true });
  });

  it("writes many files handed over at once, each exactly", async () => {
    const fs = new FsStorage(root);
    const datas = Array.from({ length: 150 }, (_, i) => Buffer.alloc(1000 + i, i % 256));
    await Promise.all(datas.map((d, i) => fs.put(`images/task-many/${i}.png`, d, "image/png")));
    datas.forEach((d, i) =>
      expect(readFileSync(path.join(root, `images/task-many/${i}.png`)).equals(d)).toBe(true),
    );
    expect(listAll(path.join(root, "images/task-many"))).toHaveLength(150);
  });

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

describe("FileWriter", () => {
  it("fails the files of a thread that dies, and writes the next ones on a new thread", async () => {
    const writer = new FileWriter();
    const dir = mkdtempSync(path.join(root, "writer-"));
    await writer.write(path.join(dir, "a"), Buffer.from("a"));
    // The writer keeps its threads private; only this test needs to kill one.
    const { threads } = writer as unknown as { threads: Array<{ worker: Worker }> };
    // One thread, up and idle: the next batch goes to it whole.
    expect(threads).toHaveLength(1);
    const [thread] = [...threads];
    // Enough bytes to keep it busy for a while (one batch, under the batch's byte cap):
    // the kill lands mid-batch.
    const big = Buffer.alloc(1024 * 1024, 7);
    const writes = Array.from({ length: 24 }, (_, i) => writer.write(path.join(dir, `b${i}`), big));
    await new Promise((r) => setImmediate(r));
    await thread!.worker.terminate();
    const outcomes = await Promise.allSettled(writes);
    const failed = outcomes.filter((o) => o.status === "rejected");
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(String(f.reason)).toMatch(/file writer thread stopped/);
    // Whatever was answered as written is there in full.
    outcomes.forEach((o, i) => {
      if (o.status === "fulfilled")
        expect(readFileSync(path.join(dir, `b${i}`)).equals(big)).toBe(true);
    });
    await writer.write(path.join(dir, "c"), Buffer.from("c"));
    expect(readFileSync(path.join(dir, "c"), "utf8")).toBe("c");
  });

  it("moves handed-over bytes to its thread, and copies the rest", async () => {
    const writer = new FileWriter();
    const dir = mkdtempSync(path.join(root, "handover-"));
    await writer.warm();
    const kept = Buffer.from("kept by the caller");
    const given = Buffer.concat([Buffer.alloc(8192, 3)]);
    const pooled = Buffer.from("a view into Node's shared pool");
    await Promise.all([
      writer.write(path.join(dir, "kept"), kept),
      writer.write(path.join(dir, "given"), given, true),
      writer.write(path.join(dir, "pooled"), pooled, true),
    ]);
    expect(kept.toString()).toBe("kept by the caller");
    expect(given.length).toBe(0); // its memory moved to the thread
    expect(pooled.toString()).toBe("a view into Node's shared pool"); // not all of its buffer: copied
    expect(readFileSync(path.join(dir, "given")).equals(Buffer.alloc(8192, 3))).toBe(true);
    expect(readFileSync(path.join(dir, "kept"), "utf8")).toBe("kept by the caller");
    expect(readFileSync(path.join(dir, "pooled"), "utf8")).toBe("a view into Node's shared pool");
  });

  it("warms its threads in a process with nothing else to do, and lets it exit after", () => {
    // The worker thread of `darkroom serve` warms the writer before anything else keeps
    // its event loop alive: an await on unreferenced threads would end it right there.
    const dir = mkdtempSync(path.join(root, "warm-"));
    const script = `
      const { FileWriter } = await import(${JSON.stringify(path.resolve("src/media/file-writer.ts"))});
      const writer = new FileWriter();
      await writer.warm();
      const { threads } = writer;
      await writer.write(${JSON.stringify(path.join(dir, "w"))}, Buffer.from("warm"));
      console.log(JSON.stringify({ threads: threads.length }));`;
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(JSON.parse(out.trim())).toEqual({ threads: 2 });
    expect(readFileSync(path.join(dir, "w"), "utf8")).toBe("warm");
  });
});
