/**
 * Result images in an S3-compatible bucket (AWS SDK v3). A put is one PutObject, which
 * S3 answers only once the object is stored durably, so the runner's rule (a task is
 * completed only after its images are stored) holds as on disk; a failed put rejects.
 * Reads stream the GetObject body as it arrives, never the whole image in memory.
 * remove(prefix) deletes like `rm -r`: the object named by the prefix and everything
 * "under" it (prefix + "/"), listed a page at a time and deleted in batches of 1,000,
 * S3's limit per DeleteObjects. Folders (for the retention janitor) are S3's common
 * prefixes under "/"; S3 has no temp files of unfinished writes, a put is all or nothing.
 */
import { Readable } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assertValidKey, contentTypeOf, type MediaStorage, type StoredFile } from "./storage.js";

const DELETE_BATCH = 1000;

export class S3Storage implements MediaStorage {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** "" or segments ending in "/", in front of every key. */
    private readonly keyPrefix: string,
  ) {}

  /** The bucket's name for a storage key. */
  objectKey(key: string): string {
    assertValidKey(key);
    return this.keyPrefix + key;
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: data,
        ContentLength: data.length,
        ContentType: contentType,
      }),
    );
  }

  async open(key: string): Promise<StoredFile | null> {
    let objectKey: string;
    try {
      objectKey = this.objectKey(key);
    } catch {
      return null;
    }
    let res;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      // Only a missing object is "no such file"; a missing bucket or a refusal is the
      // operator's problem and must surface (500, logged).
      if (err instanceof NoSuchKey) return null;
      throw err;
    }
    const body = res.Body;
    if (!(body instanceof Readable) || res.ContentLength === undefined) {
      if (body instanceof Readable) body.destroy();
      throw new Error("S3 GetObject answered without a streamed body and a length");
    }
    return { stream: body, bytes: res.ContentLength, contentType: contentTypeOf(key) };
  }

  async remove(prefix: string): Promise<void> {
    const base = this.objectKey(prefix);
    // The prefix itself may name one object, as a path may name a file on disk;
    // deleting a key that does not exist is not an error in S3.
    let pending = [base];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${base}/`,
          ContinuationToken: token,
          MaxKeys: DELETE_BATCH,
        }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) pending.push(o.Key);
      if (pending.length >= DELETE_BATCH) {
        await this.deleteObjects(pending.slice(0, DELETE_BATCH));
        pending = pending.slice(DELETE_BATCH);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await this.deleteObjects(pending);
  }

  async listFolders(prefix: string): Promise<string[]> {
    return (await this.listLevel(prefix)).folders;
  }

  async listFiles(folder: string): Promise<string[]> {
    return (await this.listLevel(folder)).files.map((name) => `${folder}/${name}`);
  }

  async removeFiles(keys: readonly string[]): Promise<void> {
    await this.deleteObjects(keys.map((k) => this.objectKey(k)));
  }

  /** The names of the folders and files directly under a storage prefix. */
  private async listLevel(prefix: string): Promise<{ folders: string[]; files: string[] }> {
    const base = `${this.objectKey(prefix)}/`;
    const folders: string[] = [];
    const files: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: base,
          Delimiter: "/",
          ContinuationToken: token,
        }),
      );
      for (const p of page.CommonPrefixes ?? []) {
        if (p.Prefix?.startsWith(base)) folders.push(p.Prefix.slice(base.length, -1));
      }
      for (const o of page.Contents ?? []) {
        if (o.Key?.startsWith(base)) files.push(o.Key.slice(base.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { folders, files };
  }

  /** Deletes bucket keys, 1,000 per request; missing ones are fine. */
  private async deleteObjects(objectKeys: readonly string[]): Promise<void> {
    for (let at = 0; at < objectKeys.length; at += DELETE_BATCH) {
      const batch = objectKeys.slice(at, at + DELETE_BATCH);
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = res.Errors ?? [];
      if (failed.length > 0) {
        throw new Error(
          `S3 did not delete ${failed.length} of ${batch.length} objects (${failed[0]?.Code ?? "unknown"}: ${failed[0]?.Key ?? "?"})`,
        );
      }
    }
  }
}
