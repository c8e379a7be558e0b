/**
 * The file API end to end (issue 16): a real Darkroom on loopback, real SQLite, real
 * files. Uploads by base64, multipart stream and URL; content sniffing over names; the
 * size cap and the quota; list, delete and quota answers; another account's file is
 * 404; expiry by clock and the janitor; a file_url used as an image_urls entry is read
 * from storage (this server's outbound rules refuse loopback, so a fetch would fail)
 * and the task completes with the sandbox provider. Refusals change nothing.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadKey } from "../../src/media/uploads.js";
import { shiftableClock } from "../helpers/clock.js";
import { startHttp, type TestHttpServer } from "../net/servers.js";
import { addAccount, startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

const MAX = 64 * 1024;
const OTHER_KEY = "sk-fileother00000000000000000000000000000000";

let s: TestServer;
let origin: TestHttpServer;
let png: Buffer;
let jpeg: Buffer;
let gif: Buffer;
let webp: Buffer;
let big: Buffer;

const image = (fmt: "png" | "jpeg" | "gif" | "webp", color = "#3366cc") => {
  const blank = sharp({ create: { width: 32, height: 24, channels: 3, background: color } });
  return blank.toFormat(fmt).toBuffer();
};

/** Uploaded files' folders in the server's storage. */
const stored = () => {
  const dir = path.join(s.dataDir, "files", "uploads");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};

const stream = (
  parts: Array<[name: string, value: string | { data: Buffer; filename: string; type?: string }]>,
  key?: string,
  server: TestServer = s,
) => {
  const form = new FormData();
  for (const [name, v] of parts) {
    if (typeof v === "string") form.append(name, v);
    else
      form.append(
        name,
        new Blob([v.data], { type: v.type ?? "application/octet-stream" }),
        v.filename,
      );
  }
  return fetch(`${server.url}/api/v1/files/upload/stream`, {
    method: "POST",
    headers: { authorization: `Bearer ${key ?? server.apiKey}` },
    body: form,
  }).then(async (r) => ({ status: r.status, json: JSON.parse(await r.text()) }));
};

const base64 = (body: unknown, key?: string) =>
  s.api("/api/v1/files/upload/base64", { body, ...(key ? { key } : {}) });

const list = async (key?: string) =>
  (await s.api("/api/v1/files/list?page=1&pageSize=100", key ? { key } : {})).json.data;

beforeAll(async () => {
  [png, jpeg, gif, webp] = await Promise.all([
    image("png"),
    image("jpeg"),
    image("gif"),
    image("webp"),
  ]);
  // Random pixels do not compress: a PNG well over the cap.
  big = await sharp(
    Buffer.from(Array.from({ length: 200 * 200 * 3 }, () => Math.floor(Math.random() * 256))),
    {
      raw: { width: 200, height: 200, channels: 3 },
    },
  )
    .png()
    .toBuffer();
  origin = await startHttp({
    "/pics/cat.webp": (_req, res) => res.end(webp),
    "/notes.png": (_req, res) => res.end("just text"),
  });
  s = await startTestServer({
    DARKROOM_FILES_MAX_BYTES: String(MAX),
    DARKROOM_FILES_QUOTA_FILES: "6",
  });
  await addAccount(s.admin, { name: "fileother", key: OTHER_KEY, credits: 10 });
});
afterAll(async () => {
  await s?.stop();
  await origin?.close();
});

describe("uploads", () => {
  it("base64 as a data URL: EvoLink's answer, and a file_url that serves the bytes", async () => {
    const r = await base64({
      base64_data: `data:image/png;base64,${png.toString("base64")}`,
      upload_path: "avatars",
      file_name: "avatar.png",
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ success: true, code: 200, msg: expect.any(String) });
    const d = r.json.data;
    expect(d).toMatchObject({
      file_name: "avatar.png",
      original_name: "avatar.png",
      file_size: png.length,
      mime_type: "image/png",
      upload_path: "avatars",
    });
    expect(d.file_id).toMatch(/^file_[a-z0-9]{24}$/);
    const hours = (Date.parse(d.expires_at) - Date.parse(d.upload_time)) / 3_600_000;
    expect(hours).toBe(72);
    expect(d.file_url.startsWith(`${s.url}/files/uploads/${d.file_id}/`)).toBe(true);
    // Public until expiry, like EvoLink's: no key needed.
    const served = await fetch(d.file_url);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);
    const download = await fetch(d.download_url);
    expect(download.headers.get("content-disposition")).toBe('attachment; filename="avatar.png"');
  });

  it("judges by content: a JPEG named .txt is image/jpeg; text named .png is refused", async () => {
    const ok = await base64({ base64_data: jpeg.toString("base64"), file_name: "photo.txt" });
    expect(ok.status).toBe(200);
    expect(ok.json.data).toMatchObject({
      mime_type: "image/jpeg",
      file_name: "photo.jpg",
      original_name: "photo.txt",
    });
    const before = { files: stored(), total: (await list()).total };
    const bad = await stream([
      ["file", { data: Buffer.from("not an image at all"), filename: "x.png", type: "image/png" }],
    ]);
    expect(bad.status).toBe(415);
    expect(bad.json).toMatchObject({ success: false, code: 415 });
    expect(bad.json.msg).toMatch(/JPEG, PNG, GIF and WebP/);
    expect(stored()).toEqual(before.files);
    expect((await list()).total).toBe(before.total);
  });

  it("multipart stream with camelCase fields, and GIF", async () => {
    const r = await stream([
      ["uploadPath", "photos"],
      ["fileName", "anim.gif"],
      ["file", { data: gif, filename: "local.gif" }],
    ]);
    expect(r.status).toBe(200);
    expect(r.json.data).toMatchObject({
      file_name: "anim.gif",
      original_name: "local.gif",
      mime_type: "image/gif",
      upload_path: "photos",
      file_size: gif.length,
    });
    const served = await fetch(r.json.data.file_url);
    expect(served.headers.get("content-type")).toBe("image/gif");
    await s.api(`/api/v1/files/${r.json.data.file_id}`, { method: "DELETE" });
  });

  it("refuses past the size cap, two files, or no file, and stores nothing", async () => {
    expect(big.length).toBeGreaterThan(MAX);
    const before = stored();
    const tooBig = await stream([["file", { data: big, filename: "big.png" }]]);
    expect(tooBig.status).toBe(413);
    expect(tooBig.json).toMatchObject({ success: false, code: 413 });
    const b64 = await base64({ base64_data: big.toString("base64") });
    expect(b64.status).toBe(413);
    const two = await stream([
      ["file", { data: png, filename: "a.png" }],
      ["file", { data: png, filename: "b.png" }],
    ]);
    expect(two.status).toBe(400);
    const none = await stream([["fileName", "x.png"]]);
    expect(none.status).toBe(400);
    const garbled = await base64({ base64_data: "!!!not base64!!!" });
    expect(garbled).toMatchObject({ status: 400, json: { success: false, code: 400 } });
    const missing = await base64({ file_name: "x.png" });
    expect(missing.status).toBe(400);
    const badPath = await base64({ base64_data: png.toString("base64"), upload_path: "../etc" });
    expect(badPath.status).toBe(400);
    expect(stored()).toEqual(before);
  });

  it("upload/url goes through the safe fetcher: loopback is refused by default", async () => {
    const before = stored();
    const r = await s.api("/api/v1/files/upload/url", {
      body: { file_url: `${origin.origin}/pics/cat.webp` },
    });
    expect(r.status).toBe(400);
    expect(r.json.success).toBe(false);
    expect(r.json.msg).toMatch(/^file_url could not be fetched: .*loopback/);
    expect(origin.hits).not.toContain("/pics/cat.webp");
    expect(stored()).toEqual(before);
    const notUrl = await s.api("/api/v1/files/upload/url", { body: { file_url: "ftp://x/y.png" } });
    expect(notUrl.status).toBe(400);
  });

  it("answers auth failures in the file API's shape with the API's statuses", async () => {
    const r = await s.api("/api/v1/files/quota", { key: null });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/Bearer/);
    expect(r.json).toMatchObject({ success: false, code: 401 });
  });
});

describe("files of an account", () => {
  it("lists newest first by page, deletes, and another account sees none of it", async () => {
    const a = (await base64({ base64_data: png.toString("base64"), file_name: "one.png" })).json
      .data;
    const b = (await base64({ base64_data: png.toString("base64"), file_name: "two.png" })).json
      .data;
    const page = await s.api("/api/v1/files/list?page=1&pageSize=1");
    expect(page.json.data.files.map((f: { file_id: string }) => f.file_id)).toEqual([b.file_id]);
    expect(page.json.data).toMatchObject({ page: 1, pageSize: 1 });
    const second = await s.api("/api/v1/files/list?page=2&pageSize=1");
    expect(second.json.data.files[0].file_id).toBe(a.file_id);
    expect((await s.api("/api/v1/files/list?pageSize=0")).status).toBe(400);

    // Another account: nothing listed, its delete is 404, its submission is refused.
    expect((await list(OTHER_KEY)).files).toEqual([]);
    const theirs = await s.api(`/api/v1/files/${a.file_id}`, { method: "DELETE", key: OTHER_KEY });
    expect(theirs).toMatchObject({ status: 404, json: { success: false, code: 404 } });
    const borrowed = await s.api("/v1/images/generations", {
      key: OTHER_KEY,
      body: { model: "doubao-seedream-4.0", prompt: "x", image_urls: [a.file_url] },
    });
    expect(borrowed.status).toBe(400);
    expect(borrowed.json.error.param).toBe("image_urls");

    const del = await s.api(`/api/v1/files/${a.file_id}`, { method: "DELETE" });
    expect(del.json).toMatchObject({ success: true, code: 200, data: { file_id: a.file_id } });
    expect(stored()).not.toContain(a.file_id);
    expect((await fetch(a.file_url)).status).toBe(404);
    expect((await s.api(`/api/v1/files/${a.file_id}`, { method: "DELETE" })).status).toBe(404);
    const used = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "x", image_urls: [a.download_url] },
    });
    expect(used.status).toBe(400);
    expect(used.json.error.message).toMatch(/^image_urls\[0\] .*deleted/);
    await s.api(`/api/v1/files/${b.file_id}`, { method: "DELETE" });
  });

  it("the quota refuses clearly when full and counts only live files", async () => {
    const quota = async () => (await s.api("/api/v1/files/quota")).json.data;
    const start = await quota();
    expect(start).toMatchObject({ max_files: 6, user_group: "default" });
    const made: string[] = [];
    for (let i = start.used_files; i < 6; i++)
      made.push((await base64({ base64_data: png.toString("base64") })).json.data.file_id);
    expect(await quota()).toMatchObject({ used_files: 6, remain_files: 0 });
    const before = stored();
    const refused = await base64({ base64_data: png.toString("base64") });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ success: false, code: 403 });
    expect(refused.json.msg).toMatch(/quota/i);
    expect(stored()).toEqual(before);
    await s.api(`/api/v1/files/${made[0]}`, { method: "DELETE" });
    expect((await quota()).remain_files).toBe(1);
    expect((await base64({ base64_data: png.toString("base64") })).status).toBe(200);
    // Other accounts have their own.
    expect((await s.api("/api/v1/files/quota", { key: OTHER_KEY })).json.data.used_files).toBe(0);
    for (const f of (await list()).files)
      await s.api(`/api/v1/files/${f.file_id}`, { method: "DELETE" });
    expect((await quota()).used_files).toBe(0);
  });

  it("a file_url as image_urls is read from storage and the task completes", async () => {
    const up = (await base64({ base64_data: png.toString("base64") })).json.data;
    const submitted = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "a lake",
        size: "1024x1024",
        image_urls: [up.file_url],
      },
    });
    expect(submitted.status).toBe(200);
    const { final } = await waitForTask(s, submitted.json.id);
    // This server refuses loopback fetches: completing proves the read was direct.
    expect(final.status).toBe("completed");
    await s.api(`/api/v1/files/${up.file_id}`, { method: "DELETE" });
  });

  it("files expire after 72 hours and the janitor removes them", async () => {
    const up = (await base64({ base64_data: png.toString("base64") })).json.data;
    expect(stored()).toContain(up.file_id);
    const clock = shiftableClock();
    try {
      clock.advance(72 * 3_600_000 + 1000);
      expect((await list()).files.map((f: { file_id: string }) => f.file_id)).not.toContain(
        up.file_id,
      );
      expect((await s.api("/api/v1/files/quota")).json.data.used_files).toBe(0);
      expect((await fetch(up.file_url)).status).toBe(403);
      const late = await s.api("/v1/images/generations", {
        body: { model: "doubao-seedream-4.0", prompt: "x", image_urls: [up.file_url] },
      });
      expect(late.status).toBe(400);
      expect(late.json.error.message).toMatch(/^image_urls\[0\] .*expired/);
      // An upload that crashed between its reservation and its commit: a pending row
      // and a temp file in its folder. Its short reservation lapses; the janitor takes both.
      const crashed = "file_crashedcrashedcrashed00";
      await s.dr.files.reserveFile(
        {
          id: crashed,
          accountId: "acct_fileother",
          key: uploadKey(crashed, "x.png"),
          fileName: "x.png",
          originalName: "x.png",
          uploadPath: "images",
          mimeType: "image/png",
          bytes: 10,
          createdMs: Date.now() - 20 * 60_000,
          expiresMs: Date.now() + 3_600_000,
        },
        Date.now() - 60_000,
        { maxFiles: null, maxBytes: null },
        Date.now() - 20 * 60_000,
      );
      mkdirSync(path.join(s.dataDir, "files", "uploads", crashed), { recursive: true });
      writeFileSync(path.join(s.dataDir, "files", "uploads", crashed, ".x.png.tmp"), "half");
      const round = await s.dr.janitor!.runOnce();
      expect(round.filesRemoved).toBeGreaterThanOrEqual(2);
      expect(stored()).not.toContain(up.file_id);
      expect(stored()).not.toContain(crashed);
    } finally {
      clock.restore();
    }
  });
});

describe("upload/url where the operator allows the origin", () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startTestServer({ DARKROOM_OUTBOUND_ALLOW: "127.0.0.1/32" });
  });
  afterAll(async () => {
    await open?.stop();
  });

  it("fetches the image, names it after the URL, and refuses text by content", async () => {
    const r = await open.api("/api/v1/files/upload/url", {
      body: { file_url: `${origin.origin}/pics/cat.webp`, upload_path: "downloads" },
    });
    expect(r.status).toBe(200);
    expect(r.json.data).toMatchObject({
      original_name: "cat.webp",
      file_name: "cat.webp",
      mime_type: "image/webp",
      upload_path: "downloads",
      file_size: webp.length,
    });
    const text = await open.api("/api/v1/files/upload/url", {
      body: { file_url: `${origin.origin}/notes.png` },
    });
    expect(text.status).toBe(415);
    const list = (await open.api("/api/v1/files/list")).json.data;
    expect(list.total).toBe(1);
  });

  it("takes a file larger than DARKROOM_BODY_LIMIT but within the file cap", async () => {
    const noise = randomBytes(700 * 700 * 3);
    const large = await sharp(noise, { raw: { width: 700, height: 700, channels: 3 } })
      .png()
      .toBuffer();
    expect(large.length).toBeGreaterThan(1024 * 1024);
    const r = await stream([["file", { data: large, filename: "large.png" }]], undefined, open);
    expect(r.status).toBe(200);
    expect(r.json.data.file_size).toBe(large.length);
    const b64 = await open.api("/api/v1/files/upload/base64", {
      body: { base64_data: large.toString("base64") },
    });
    expect(b64.status).toBe(200);
    expect(b64.json.data.file_size).toBe(large.length);
  });
});
