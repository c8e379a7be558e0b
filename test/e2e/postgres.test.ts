/**
 * The real server on PostgreSQL (DATABASE_URL, a fresh schema named in the URL as an
 * operator would): submit → the sandbox completes it → download the image; poll and
 * list on the way; and the server's own ledger check agrees at the end.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshSchema, PG_URL, postgresAnswers } from "../helpers/postgres.js";
import { startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

const up = await postgresAnswers();

describe.skipIf(!up)("the server on PostgreSQL", () => {
  let s: TestServer;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const fresh = await freshSchema();
    drop = fresh.drop;
    const url = new URL(PG_URL);
    url.searchParams.set("options", `-c search_path=${fresh.schema}`);
    s = await startTestServer({ DATABASE_URL: url.toString(), DARKROOM_DB_POOL_MAX: "4" });
  });
  afterAll(async () => {
    await s?.stop();
    await drop?.();
  });

  it("submits, completes, downloads, polls and lists", async () => {
    const sub = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "a lake at dawn" },
    });
    expect(sub.status, sub.text).toBe(200);
    const id: string = sub.json.id;
    expect(sub.json.status).toBe("pending");

    const { final } = await waitForTask(s, id);
    expect(final.status).toBe("completed");
    expect(final.results).toHaveLength(1);

    const img = await fetch(final.results[0]);
    expect(img.status).toBe(200);
    expect(img.headers.get("content-type")).toMatch(/^image\//);
    expect((await img.arrayBuffer()).byteLength).toBeGreaterThan(100);

    const poll = await s.api(`/v1/tasks/${id}`);
    expect(poll.status).toBe(200);
    expect(poll.json).toMatchObject({ id, status: "completed", progress: 100 });

    const list = await s.api("/v1/tasks?page_size=10");
    expect(list.status, list.text).toBe(200);
    expect(list.json.total).toBe(1);
    expect(list.json.data.map((t: { id: string }) => t.id)).toEqual([id]);
    const done = await s.api("/v1/tasks?status=completed");
    expect(done.json.total).toBe(1);

    // The money moved once: the hold released, the charge captured.
    const credits = await s.api("/v1/credits");
    expect(credits.status, credits.text).toBe(200);
    expect(await s.admin.checkLedger()).toEqual([]);
  });

  it("keeps uploaded files: upload, list, quota, use as image_urls, delete", async () => {
    const png = await sharp({
      create: { width: 40, height: 30, channels: 3, background: "#aa2244" },
    })
      .png()
      .toBuffer();
    const upload = await s.api("/api/v1/files/upload/base64", {
      body: { base64_data: `data:image/png;base64,${png.toString("base64")}` },
    });
    expect(upload.status, upload.text).toBe(200);
    const { file_id: id, file_url: url } = upload.json.data;
    const listed = (await s.api("/api/v1/files/list")).json.data;
    expect(listed.files.map((f: { file_id: string }) => f.file_id)).toEqual([id]);
    expect((await s.api("/api/v1/files/quota")).json.data.used_files).toBe(1);
    const sub = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "ref", image_urls: [url] },
    });
    expect(sub.status, sub.text).toBe(200);
    expect((await waitForTask(s, sub.json.id)).final.status).toBe("completed");
    expect((await s.api(`/api/v1/files/${id}`, { method: "DELETE" })).status).toBe(200);
    expect((await s.api("/api/v1/files/quota")).json.data.used_files).toBe(0);
  });
});
