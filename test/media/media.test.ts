import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FsStorage } from "../../src/media/fs-storage.js";
import { signFileUrl, verifyFileSignature } from "../../src/media/signed-url.js";
import { assertValidKey } from "../../src/media/storage.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");
const key = "images/task-unified-1757165031-k3v9x2qa/0.jpg";

function parts(url: string) {
  const u = new URL(url);
  return {
    key: decodeURIComponent(u.pathname.replace(/^\/files\//, "")),
    exp: u.searchParams.get("exp")!,
    sig: u.searchParams.get("sig")!,
  };
}

describe("signed file links", () => {
  const url = signFileUrl({ baseUrl: "http://gw", key, expiresAt: 2_000_000_000, secret });
  const p = parts(url);

  it("round-trips", () => {
    expect(url.startsWith(`http://gw/files/${key}?exp=2000000000&sig=`)).toBe(true);
    expect(verifyFileSignature({ ...p, secret, nowSec: 1_999_999_999 })).toBe("ok");
  });

  it("expires at exp", () => {
    expect(verifyFileSignature({ ...p, secret, nowSec: 2_000_000_000 })).toBe("expired");
  });

  it("refuses tampering with the key, the expiry, the signature or the secret", () => {
    expect(
      verifyFileSignature({ ...p, key: key.replace("0.jpg", "1.jpg"), secret, nowSec: 0 }),
    ).toBe("invalid");
    expect(verifyFileSignature({ ...p, exp: "2000000001", secret, nowSec: 0 })).toBe("invalid");
    expect(
      verifyFileSignature({
        ...p,
        sig: p.sig.replace(/^./, (c) => (c === "A" ? "B" : "A")),
        secret,
        nowSec: 0,
      }),
    ).toBe("invalid");
    expect(verifyFileSignature({ ...p, secret: Buffer.from("other"), nowSec: 0 })).toBe("invalid");
  });

  it("refuses malformed parameters", () => {
    for (const exp of ["", "1e9", "-1", "0x10", " 1", undefined]) {
      expect(verifyFileSignature({ ...p, exp, secret, nowSec: 0 }), String(exp)).toBe("invalid");
    }
    for (const sig of ["", "short", undefined, `${p.sig}A`]) {
      expect(verifyFileSignature({ ...p, sig, secret, nowSec: 0 }), String(sig)).toBe("invalid");
    }
  });
});

describe("FsStorage", () => {
  const root = mkdtempSync(path.join(tmpdir(), "darkroom-fs-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const fs = new FsStorage(root);

  it("puts atomically and opens with size and type", async () => {
    await fs.put(key, Buffer.from("jpegbytes"));
    const f = await fs.open(key);
    expect(f).not.toBeNull();
    expect([f!.bytes, f!.contentType]).toEqual([9, "image/jpeg"]);
    const chunks: Buffer[] = [];
    for await (const c of f!.stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("jpegbytes");
    expect(
      readdirSync(path.join(root, path.dirname(key))).filter((n) => n.endsWith(".tmp")),
    ).toEqual([]);
  });

  it("overwrites in place (a re-run task rewrites the same keys)", async () => {
    await fs.put(key, Buffer.from("v2"));
    const f = await fs.open(key);
    f!.stream.destroy(); // not read: release the file handle
    expect(f!.bytes).toBe(2);
  });

  it("streams the file it opened, even if the key is rewritten before reading", async () => {
    await fs.put(key, Buffer.from("first"));
    const f = await fs.open(key);
    await fs.put(key, Buffer.from("second, longer"));
    const chunks: Buffer[] = [];
    for await (const c of f!.stream) chunks.push(c as Buffer);
    expect([f!.bytes, Buffer.concat(chunks).toString()]).toEqual([5, "first"]);
  });

  it("returns null for missing files and refuses keys that could escape the root", async () => {
    expect(await fs.open("images/nope/0.jpg")).toBeNull();
    for (const bad of [
      "../etc/passwd",
      "/etc/passwd",
      "images/../../x",
      "a//b",
      "a\\b",
      "",
      "x".repeat(513),
    ]) {
      expect(() => assertValidKey(bad), bad).toThrow();
      expect(await fs.open(bad)).toBeNull();
      await expect(fs.put(bad, Buffer.from("x"))).rejects.toThrow();
    }
  });
});
