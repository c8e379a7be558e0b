/**
 * The store contract for uploaded files (issue 16), run for every backend by
 * storeContract: pending → live, expiry, account scoping, the quota counted over live
 * and pending files only (and held under concurrent reserves), listing pages, deletes,
 * and the janitor's batches.
 */
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UploadedFile } from "../../src/store/files.js";
import type { OpenedStores } from "../../src/store/open.js";
import type { OpenBackend } from "./store.contract.js";

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const NO_QUOTA = { maxFiles: null, maxBytes: null };
const hash = (key: string) => createHash("sha256").update(key).digest("hex");

export function filesContract(backend: string, open: OpenBackend): void {
  describe(`uploaded files contract (${backend})`, () => {
    let s: OpenedStores;
    let a: string;
    let b: string;
    let seq = 0;

    const file = (accountId: string, over: Partial<UploadedFile> = {}): UploadedFile => {
      const id = `file_${String(++seq).padStart(6, "0")}`;
      return {
        id,
        accountId,
        key: `uploads/${id}/x.png`,
        fileName: "x.png",
        originalName: "x.png",
        uploadPath: "images",
        mimeType: "image/png",
        bytes: 100,
        createdMs: T0 + seq,
        expiresMs: T0 + 72 * HOUR,
        ...over,
      };
    };
    const upload = async (f: UploadedFile) => {
      expect(await s.files.reserveFile(f, T0 + HOUR, NO_QUOTA, T0)).toEqual({ kind: "reserved" });
      expect(await s.files.commitFile(f.id, T0)).toBe(true);
      return f;
    };

    beforeEach(async () => {
      s = await open();
      await s.store.bootstrap({
        nowMs: T0,
        adminTokenHash: "admin-hash",
        accountName: "default",
        groupName: "default",
        groups: [{ name: "default", multiplierPpm: 1_000_000 }],
        apiKey: { id: "key_boot", hash: hash("sk-boot"), prefix: "sk-boot" },
        creditsMicros: 0,
        webhookSecret: "whsec_boot",
      });
      a = (await s.store.findKeyByHash(hash("sk-boot")))!.accountId;
      b = "acct_other";
      await s.admin.createAccount({
        id: b,
        name: "other",
        group: "default",
        webhookSecret: "whsec_other",
        nowMs: T0,
      });
    });
    afterEach(async () => {
      await s.close();
    });

    it("a reserved file is pending (not listed, counted) until committed, then live", async () => {
      const f = file(a);
      await s.files.reserveFile(f, T0 + HOUR, NO_QUOTA, T0);
      expect(await s.files.getFile(a, f.id, T0)).toBeNull();
      expect((await s.files.listFiles(a, 1, 10, T0)).total).toBe(0);
      expect(await s.files.fileUsage(a, T0)).toEqual({ files: 1, bytes: 100 });
      expect(await s.files.commitFile(f.id, T0)).toBe(true);
      expect(await s.files.commitFile(f.id, T0)).toBe(false);
      expect(await s.files.getFile(a, f.id, T0)).toEqual(f);
      expect(await s.files.findLiveFile(f.id, T0)).toEqual(f);
    });

    it("another account's file is not there", async () => {
      const f = await upload(file(a));
      expect(await s.files.getFile(b, f.id, T0)).toBeNull();
      expect(await s.files.expireFile(b, f.id, T0)).toBeNull();
      expect((await s.files.listFiles(b, 1, 10, T0)).files).toEqual([]);
      expect(await s.files.getFile(a, f.id, T0)).not.toBeNull();
    });

    it("an expired file is gone from reads and the quota, and handed to the janitor", async () => {
      const f = await upload(file(a, { expiresMs: T0 + 2 * HOUR }));
      const later = T0 + 2 * HOUR;
      expect(await s.files.getFile(a, f.id, later - 1)).not.toBeNull();
      expect(await s.files.getFile(a, f.id, later)).toBeNull();
      expect(await s.files.findLiveFile(f.id, later)).toBeNull();
      expect(await s.files.fileUsage(a, later)).toEqual({ files: 0, bytes: 0 });
      expect(await s.files.expiredFiles(later - 1, 10)).toEqual([]);
      expect(await s.files.expiredFiles(later, 10)).toEqual([{ id: f.id, key: f.key }]);
      expect(await s.files.forgetFiles([f.id])).toBe(1);
      expect(await s.files.expiredFiles(later, 10)).toEqual([]);
    });

    it("a pending upload never committed expires at its pending deadline", async () => {
      const f = file(a);
      await s.files.reserveFile(f, T0 + 10, NO_QUOTA, T0);
      expect(await s.files.commitFile(f.id, T0 + 10)).toBe(false);
      expect(await s.files.fileUsage(a, T0 + 10)).toEqual({ files: 0, bytes: 0 });
      expect(await s.files.expiredFiles(T0 + 10, 10)).toEqual([{ id: f.id, key: f.key }]);
    });

    it("the quota refuses past its files or bytes, and counts only unexpired files", async () => {
      const quota = { maxFiles: 2, maxBytes: 250 };
      await upload(file(a, { expiresMs: T0 + HOUR }));
      await upload(file(a));
      const third = file(a);
      expect(await s.files.reserveFile(third, T0 + HOUR, quota, T0)).toEqual({
        kind: "quota_exceeded",
        usage: { files: 2, bytes: 200 },
      });
      expect(await s.files.getFile(a, third.id, T0)).toBeNull();
      // The first expired: one file, 100 bytes in use; 100 more fit, 200 do not.
      expect(
        (await s.files.reserveFile(file(a, { bytes: 200 }), T0 + 2 * HOUR, quota, T0 + HOUR)).kind,
      ).toBe("quota_exceeded");
      expect((await s.files.reserveFile(third, T0 + 2 * HOUR, quota, T0 + HOUR)).kind).toBe(
        "reserved",
      );
      // Other accounts have their own.
      expect((await s.files.reserveFile(file(b), T0 + 2 * HOUR, quota, T0 + HOUR)).kind).toBe(
        "reserved",
      );
    });

    it("concurrent reserves cannot together pass the quota", async () => {
      const quota = { maxFiles: 3, maxBytes: null };
      const results = await Promise.all(
        Array.from({ length: 8 }, () => s.files.reserveFile(file(a), T0 + HOUR, quota, T0)),
      );
      expect(results.filter((r) => r.kind === "reserved")).toHaveLength(3);
      expect(await s.files.fileUsage(a, T0)).toEqual({ files: 3, bytes: 300 });
    });

    it("lists live files newest first, a page at a time, with the exact total", async () => {
      const made: UploadedFile[] = [];
      for (let i = 0; i < 5; i++) made.push(await upload(file(a)));
      await upload(file(b));
      await s.files.reserveFile(file(a), T0 + HOUR, NO_QUOTA, T0); // pending: not listed
      const p1 = await s.files.listFiles(a, 1, 2, T0);
      const p3 = await s.files.listFiles(a, 3, 2, T0);
      expect(p1.total).toBe(5);
      expect(p1.files.map((f) => f.id)).toEqual([made[4]!.id, made[3]!.id]);
      expect(p3.files.map((f) => f.id)).toEqual([made[0]!.id]);
      expect((await s.files.listFiles(a, 4, 2, T0)).files).toEqual([]);
    });

    it("a delete expires the file at once and only once", async () => {
      const f = await upload(file(a));
      expect(await s.files.expireFile(a, f.id, T0 + 5)).toEqual(f);
      expect(await s.files.expireFile(a, f.id, T0 + 6)).toBeNull();
      expect(await s.files.getFile(a, f.id, T0 + 6)).toBeNull();
      expect(await s.files.fileUsage(a, T0 + 6)).toEqual({ files: 0, bytes: 0 });
      expect(await s.files.expiredFiles(T0 + 6, 10)).toEqual([{ id: f.id, key: f.key }]);
    });

    it("expired rows come out in batches, oldest expiry first", async () => {
      const fs: UploadedFile[] = [];
      for (let i = 0; i < 5; i++) fs.push(await upload(file(a, { expiresMs: T0 + 10 + i })));
      const first = await s.files.expiredFiles(T0 + 100, 3);
      expect(first.map((f) => f.id)).toEqual(fs.slice(0, 3).map((f) => f.id));
      expect(await s.files.forgetFiles(first.map((f) => f.id))).toBe(3);
      expect((await s.files.expiredFiles(T0 + 100, 3)).map((f) => f.id)).toEqual(
        fs.slice(3).map((f) => f.id),
      );
    });
  });
}
