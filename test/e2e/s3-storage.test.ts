/**
 * Issue 14 (S3 storage): a real Darkroom storing result images in a real S3-compatible
 * server (s3rver on a loopback port, test/helpers/s3.ts), in both link modes. Each task
 * is submitted to the sandbox, polled to completed (the poll fast path signs the
 * links), and downloaded through its link; the objects are checked in the bucket.
 *
 * - presigned: links go straight to the bucket and expire when Darkroom's own would
 *   (DARKROOM_RESULT_URL_TTL after the link was given; result-link-lifetime.test.ts);
 *   S3 (s3rver, on its own real clock) refuses one past that moment.
 * - proxied: links stay Darkroom's /files links; the route streams the object from the
 *   bucket, and a missing object is the JSON 404.
 * - a put the bucket refuses fails the task cleanly (refunded, nothing half-stored);
 * - a bad or missing setting, or a bucket that is not there, stops the start.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
} from "@aws-sdk/client-s3";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { shiftableClock, type ShiftedClock } from "../helpers/clock.js";
import { startS3rver, type TestS3 } from "../helpers/s3.js";
import {
  defaultAccountId,
  ledgerInvariants,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

const BUCKET = "results";
let s3: TestS3;
let presigned: TestServer;
let proxied: TestServer;
let clock: ShiftedClock | null = null;

beforeAll(async () => {
  s3 = await startS3rver([BUCKET, "vanishing"]);
  presigned = await startTestServer(
    s3.env(BUCKET, { DARKROOM_S3_PREFIX: "presigned", DARKROOM_RESULT_URL_TTL: "120" }),
  );
  proxied = await startTestServer(
    s3.env(BUCKET, { DARKROOM_S3_PREFIX: "proxied/", DARKROOM_S3_LINKS: "proxied" }),
  );
});
afterEach(() => {
  clock?.restore();
  clock = null;
});
afterAll(async () => {
  for (const s of [presigned, proxied]) {
    if (!s) continue;
    await ledgerInvariants(s.admin);
    await s.stop();
  }
  await s3?.stop();
});

async function completed(s: TestServer, prompt: string, n = 1) {
  const sub = await s.api("/v1/images/generations", {
    body: { model: "doubao-seedream-4.0", prompt, n, size: "1:1", quality: "1K" },
  });
  expect(sub.status).toBe(200);
  const { final } = await waitForTask(s, sub.json.id);
  expect(final.status).toBe("completed");
  return { id: sub.json.id as string, results: final.results as string[] };
}

async function objectBytes(key: string): Promise<Buffer> {
  const obj = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await obj.Body!.transformToByteArray());
}

describe("presigned links (the default with DARKROOM_STORAGE=s3)", () => {
  it("point at the object in the bucket, download it, and nothing is stored on disk", async () => {
    const { id, results } = await completed(presigned, "presigned links", 2);
    expect(results).toHaveLength(2);
    for (const [i, link] of results.entries()) {
      const u = new URL(link);
      expect(`${u.origin}${u.pathname}`).toMatch(
        new RegExp(`^${s3.endpoint}/${BUCKET}/presigned/images/\\d{8}-\\d{4}/${id}-${i}\\.jpg$`),
      );
      expect(u.searchParams.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
      const key = u.pathname.slice(`/${BUCKET}/`.length);
      await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));

      const res = await fetch(link);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(await objectBytes(key))).toBe(true);
      expect((await sharp(body).metadata()).format).toBe("jpeg");
    }
    expect(existsSync(path.join(presigned.dataDir, "files"))).toBe(false);
  });

  it("expire DARKROOM_RESULT_URL_TTL after they were given, and S3 refuses them after", async () => {
    const { id } = await completed(presigned, "presigned expiry");
    const before = Math.floor(Date.now() / 1000);
    const view = await presigned.api(`/v1/tasks/${id}`);
    const after = Math.floor(Date.now() / 1000);
    const u = new URL(view.json.results[0] as string);
    const d = u.searchParams.get("X-Amz-Date")!;
    const signedAt =
      Date.UTC(
        +d.slice(0, 4),
        +d.slice(4, 6) - 1,
        +d.slice(6, 8),
        +d.slice(9, 11),
        +d.slice(11, 13),
        +d.slice(13, 15),
      ) / 1000;
    const exp = signedAt + Number(u.searchParams.get("X-Amz-Expires"));
    expect(exp).toBeGreaterThanOrEqual(before + 120);
    expect(exp).toBeLessThanOrEqual(after + 120);
    expect((await fetch(u)).status).toBe(200);

    // A link handed out 125 s ago (Darkroom's clock set back) has expired by now on
    // S3's own clock.
    clock = shiftableClock();
    clock.advance(-125_000);
    const old = await presigned.api(`/v1/tasks/${id}`);
    clock.restore();
    clock = null;
    const refused = await fetch(old.json.results[0] as string);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/Request has expired/);
  });
});

describe("proxied links (DARKROOM_S3_LINKS=proxied)", () => {
  it("stay Darkroom's signed links and stream the object; a missing object is a JSON 404", async () => {
    const { id, results } = await completed(proxied, "proxied links");
    const u = new URL(results[0]!);
    expect(u.origin).toBe(proxied.url);
    expect(u.pathname).toMatch(new RegExp(`^/files/images/\\d{8}-\\d{4}/${id}-0\\.jpg$`));
    const key = `proxied${u.pathname.slice("/files".length)}`;
    const stored = await objectBytes(key);

    const res = await fetch(u);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    expect(res.headers.get("content-length")).toBe(String(stored.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(stored)).toBe(true);
    expect(existsSync(path.join(proxied.dataDir, "files"))).toBe(false);

    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    const gone = await fetch(u);
    expect(gone.status).toBe(404);
    expect(gone.headers.get("content-type")).toMatch(/^application\/json/);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe("file_not_found");
  });
});

describe("failures", () => {
  it("a put the bucket refuses fails the task and refunds it", async () => {
    const s = await startTestServer(s3.env("vanishing"));
    try {
      await s3.client.send(new DeleteBucketCommand({ Bucket: "vanishing" }));
      const account = await defaultAccountId(s);
      const startBalance = (await s.admin.getAccount(account))!.balanceMicros;
      const sub = await s.api("/v1/images/generations", {
        body: { model: "doubao-seedream-4.0", prompt: "nowhere to put it" },
      });
      const { final } = await waitForTask(s, sub.json.id);
      expect(final.status).toBe("failed");
      expect(final.results ?? []).toEqual([]);
      expect((await s.admin.getAccount(account))!.balanceMicros).toBe(startBalance);
      await ledgerInvariants(s.admin);
    } finally {
      await s.stop();
    }
  });

  it("a bad or missing setting stops the start with a message naming it", () => {
    const load = (env: Record<string, string>) => () =>
      loadConfig({ DARKROOM_DATA_DIR: "/tmp/x", ...env });
    expect(load({ DARKROOM_STORAGE: "s3" })).toThrow(/DARKROOM_S3_BUCKET is required/);
    expect(load({ DARKROOM_STORAGE: "gcs" })).toThrow(/DARKROOM_STORAGE must be fs or s3/);
    expect(load({ DARKROOM_S3_BUCKET: "results" })).toThrow(
      /DARKROOM_S3_BUCKET is set but DARKROOM_STORAGE is not s3/,
    );
    expect(load({ DARKROOM_STORAGE: "s3", DARKROOM_S3_BUCKET: "Not_A_Bucket" })).toThrow(
      /DARKROOM_S3_BUCKET must be an S3 bucket name/,
    );
    expect(load({ DARKROOM_STORAGE: "s3", DARKROOM_S3_BUCKET: "results" })).toThrow(
      /DARKROOM_S3_REGION \(or AWS_REGION\) is required/,
    );
    const s3Env = s3.env(BUCKET);
    expect(load({ ...s3Env, DARKROOM_S3_LINKS: "public" })).toThrow(
      /DARKROOM_S3_LINKS must be presigned or proxied/,
    );
    expect(load({ ...s3Env, DARKROOM_S3_ENDPOINT: "ftp://x" })).toThrow(/DARKROOM_S3_ENDPOINT/);
    expect(load({ ...s3Env, DARKROOM_S3_FORCE_PATH_STYLE: "maybe" })).toThrow(
      /DARKROOM_S3_FORCE_PATH_STYLE must be true or false/,
    );
    expect(load({ ...s3Env, DARKROOM_S3_PREFIX: "a/../b" })).toThrow(/DARKROOM_S3_PREFIX/);
    // S3 refuses presigned links living longer than 7 days.
    // (Images kept for ever, so that the retention's own rule about the TTL stays quiet.)
    const keepImages = { DARKROOM_IMAGE_RETENTION_HOURS: "0" };
    expect(load({ ...s3Env, ...keepImages, DARKROOM_RESULT_URL_TTL: "604801" })).toThrow(
      /DARKROOM_RESULT_URL_TTL must be at most 604800/,
    );
    expect(
      load({
        ...s3Env,
        ...keepImages,
        DARKROOM_RESULT_URL_TTL: "604801",
        DARKROOM_S3_LINKS: "proxied",
      })(),
    ).toMatchObject({ storage: { kind: "s3", links: "proxied" } });
    expect(load({})().storage).toEqual({ kind: "fs" });
  });

  it("a bucket that is not there stops the start, naming it", async () => {
    await expect(startTestServer(s3.env("no-such-bucket"))).rejects.toThrow(
      /S3 bucket "no-such-bucket" at http:\/\/127\.0\.0\.1:\d+ is not usable: NotFound \(HTTP 404\)/,
    );
  });
});

describe("uploaded files (the file API) in the bucket", () => {
  it("are stored, served by Darkroom's own link, used as image_urls and deleted", async () => {
    const png = await sharp({
      create: { width: 40, height: 30, channels: 3, background: "#22aa44" },
    })
      .png()
      .toBuffer();
    const up = await presigned.api("/api/v1/files/upload/base64", {
      body: { base64_data: png.toString("base64"), file_name: "ref.png" },
    });
    expect(up.status).toBe(200);
    const { file_id: id, file_url: url } = up.json.data;
    // Darkroom's own signed link even with presigned result links: recognisable as ours.
    expect(url.startsWith(`${presigned.url}/files/uploads/${id}/ref.png?`)).toBe(true);
    const served = await fetch(url);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);
    const sub = await presigned.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "ref", size: "1:1", image_urls: [url] },
    });
    expect(sub.status).toBe(200);
    expect((await waitForTask(presigned, sub.json.id)).final.status).toBe("completed");
    const del = await presigned.api(`/api/v1/files/${id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    expect((await fetch(url)).status).toBe(404);
  });
});
