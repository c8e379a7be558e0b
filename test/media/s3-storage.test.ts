/**
 * S3Storage against a real S3-compatible server (s3rver, test/helpers/s3.ts): a put
 * lands under the configured key prefix; open() streams the object as it arrives (the
 * first chunk is there before the body ends, in many chunks, never one buffer); a
 * missing object is null but a missing bucket is an error; remove(prefix) deletes
 * everything under a prefix across several pages and DeleteObjects batches and nothing
 * beside it; folders and files list as on disk, for the retention janitor, which
 * expires folders in the bucket; failures of put and of the start-up check surface as
 * errors.
 */
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import {
  HeadObjectCommand,
  type DeleteObjectsCommandInput,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import type { S3StorageConfig } from "../../src/config/storage.js";
import { newTaskId } from "../../src/core/ids.js";
import { imageKey } from "../../src/core/image-keys.js";
import { openMediaStorage, type OpenedMedia } from "../../src/media/open.js";
import { createS3Client } from "../../src/media/s3-client.js";
import { S3Storage } from "../../src/media/s3-storage.js";
import { DEFAULT_RETENTION, Janitor } from "../../src/retention/janitor.js";
import { startS3rver, type TestS3 } from "../helpers/s3.js";
import { openTestStore } from "../helpers/store.js";

const BUCKET = "storage-test";
const quietLog = { warn() {} };
let s3: TestS3;
let opened: OpenedMedia;

function config(over: Partial<S3StorageConfig> = {}): S3StorageConfig {
  return {
    kind: "s3",
    bucket: BUCKET,
    region: "us-east-1",
    endpoint: s3.endpoint,
    forcePathStyle: true,
    keyPrefix: "tenant/a/",
    links: "proxied",
    ...over,
  };
}

beforeAll(async () => {
  s3 = await startS3rver([BUCKET]);
  opened = await openMediaStorage(config(), { dataDir: "/nonexistent", log: quietLog });
});
afterAll(async () => {
  opened?.close();
  await s3?.stop();
});

async function keysUnder(client: S3Client, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

describe("S3Storage", () => {
  it("put stores under the key prefix; open streams it back in chunks", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const key = "images/20261206-1200/task-unified-1765022400-k3v9x2qa-0.png";
    await opened.media.put(key, data, "image/png");

    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: `tenant/a/${key}` }),
    );
    expect(head.ContentLength).toBe(data.length);
    expect(head.ContentType).toBe("image/png");

    const file = await opened.media.open(key);
    expect(file).not.toBeNull();
    expect(file!.bytes).toBe(data.length);
    expect(file!.contentType).toBe("image/png");
    const stream: Readable = file!.stream;
    // Handed over unread: the bytes are still on their way from S3.
    expect(stream.readableEnded).toBe(false);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it("open: a missing object or a bad key is null; a missing bucket is an error", async () => {
    expect(await opened.media.open("images/20261206-1200/none.jpg")).toBeNull();
    expect(await opened.media.open("../escape.jpg")).toBeNull();
    const client = createS3Client(config());
    try {
      const elsewhere = new S3Storage(client, "no-such-bucket", "");
      await expect(elsewhere.open("images/x.jpg")).rejects.toMatchObject({ name: "NoSuchBucket" });
    } finally {
      client.destroy();
    }
  });

  it("a put that S3 refuses rejects", async () => {
    const client = createS3Client(config());
    try {
      const elsewhere = new S3Storage(client, "no-such-bucket", "");
      await expect(elsewhere.put("images/x.jpg", Buffer.from("x"), "image/jpeg")).rejects.toThrow();
    } finally {
      client.destroy();
    }
  });

  it(
    "remove(prefix) deletes 1,234 objects under it (two pages, two batches), nothing beside it",
    {
      timeout: 120_000, // s3rver lists and deletes slowly: seconds per thousand objects
    },
    async () => {
      const inside = Array.from(
        { length: 1234 },
        (_, i) => `tenant/a/images/20261206-1300/task-${String(i).padStart(5, "0")}-0.jpg`,
      );
      const beside = [
        "tenant/a/images/20261206-13001/kept.jpg", // same leading characters, another folder
        "tenant/a/images/20261206-1310/kept.jpg",
        "tenant/b/images/20261206-1300/kept.jpg", // another prefix's same folder
      ];
      s3.seed(BUCKET, [...inside, "tenant/a/images/20261206-1300", ...beside]);
      expect(await keysUnder(s3.client, "tenant/a/images/20261206-1300/")).toHaveLength(1234);

      // s3rver takes any number of keys per DeleteObjects; S3 takes at most 1,000, so
      // the batches are watched on the way out.
      const client = createS3Client(config());
      const batches: number[] = [];
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === "DeleteObjectsCommand") {
            batches.push((args.input as DeleteObjectsCommandInput).Delete!.Objects!.length);
          }
          return next(args);
        },
        { step: "initialize" },
      );
      try {
        await new S3Storage(client, BUCKET, "tenant/a/").remove("images/20261206-1300");
      } finally {
        client.destroy();
      }
      expect(batches).toEqual([1000, 235]); // 1,234 under it and the prefix's own object

      expect(await keysUnder(s3.client, "tenant/a/images/20261206-1300")).toEqual([
        "tenant/a/images/20261206-13001/kept.jpg",
      ]);
      expect(await keysUnder(s3.client, "tenant/")).toEqual(expect.arrayContaining(beside));
      // Removing what is already gone is not an error.
      await opened.media.remove("images/20261206-1300");
    },
  );
});

describe("S3Storage folders, for the retention janitor", () => {
  it("lists the folders and files directly under a prefix and removes chosen files", async () => {
    s3.seed(BUCKET, [
      "tenant/a/images/20261206-1500/t1-0.jpg",
      "tenant/a/images/20261206-1500/t1-1.jpg",
      "tenant/a/images/20261206-1500/deeper/x.jpg",
      "tenant/a/images/20261206-1510/t2-0.jpg",
      "tenant/b/images/20261206-1520/other-prefix.jpg",
    ]);
    expect((await opened.media.listFolders("images")).sort()).toEqual(
      expect.arrayContaining(["20261206-1500", "20261206-1510"]),
    );
    expect(await opened.media.listFolders("images")).not.toContain("20261206-1520");
    expect((await opened.media.listFiles("images/20261206-1500")).sort()).toEqual([
      "images/20261206-1500/t1-0.jpg",
      "images/20261206-1500/t1-1.jpg",
    ]);
    expect(await opened.media.listFiles("images/none")).toEqual([]);

    await opened.media.removeFiles([
      "images/20261206-1500/t1-1.jpg",
      "images/20261206-1500/never-there.jpg",
    ]);
    expect(await opened.media.listFiles("images/20261206-1500")).toEqual([
      "images/20261206-1500/t1-0.jpg",
    ]);
  });

  it("the janitor expires image folders in the bucket", async () => {
    const base = Date.UTC(2026, 0, 10, 12, 0);
    const day = 86_400_000;
    const old = imageKey(newTaskId(base - 8 * day), 0, "image/png");
    const young = imageKey(newTaskId(base - 6 * day), 0, "image/png");
    await opened.media.put(old, Buffer.from("old"), "image/png");
    await opened.media.put(young, Buffer.from("young"), "image/png");
    const store = await openTestStore();
    try {
      const round = await new Janitor(
        {
          store: store.store,
          media: opened.media,
          log: pino({ level: "silent" }),
          now: () => base,
        },
        { ...DEFAULT_RETENTION, imageRetentionMs: 7 * day, taskRetentionMs: null },
      ).runOnce();
      expect(round.foldersRemoved).toBe(1);
    } finally {
      await store.close();
    }
    expect(await opened.media.open(old)).toBeNull();
    const kept = await opened.media.open(young);
    expect(kept).not.toBeNull();
    kept!.stream.destroy();
  });
});

describe("openMediaStorage with S3", () => {
  it("refuses to start on a bucket that does not exist, naming it", async () => {
    await expect(
      openMediaStorage(config({ bucket: "no-such-bucket" }), { dataDir: "/x", log: quietLog }),
    ).rejects.toThrow(
      /S3 bucket "no-such-bucket" at http:\/\/127\.0\.0\.1:\d+ is not usable: NotFound/,
    );
  });

  it("presigned: links go to the bucket and download the object; proxied: no direct links", async () => {
    expect(opened.directLink).toBeNull();
    const presigned = await openMediaStorage(config({ links: "presigned" }), {
      dataDir: "/x",
      log: quietLog,
    });
    try {
      const key = "images/20261206-1400/t-0.jpg";
      await presigned.media.put(key, Buffer.from("jpeg bytes"), "image/jpeg");
      const link = presigned.directLink!(key, Math.floor(Date.now() / 1000) + 300);
      expect(link.startsWith(`${s3.endpoint}/${BUCKET}/tenant/a/${key}?`)).toBe(true);
      const res = await fetch(link);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      expect(await res.text()).toBe("jpeg bytes");
    } finally {
      presigned.close();
    }
  });
});
