/**
 * Result images in an S3-compatible bucket (AWS SDK v3). A put is one PutObject, which
 * S3 answers only once the object is stored durably, so the runner's rule (a task is
 * completed only after its images are stored) holds as on disk; a failed put rejects.
 * Reads stream the GetObject body as it arrives, never the whole image in memory.
 * remove(prefix) deletes like `rm -r`: the object named by the prefix and everything
 * "under" it (prefix + "/"), listed a page at a time and deleted in batches of 1,000,
 * S3's limit per DeleteObjects.
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
      while (pending.length >= DELETE_BATCH) {
        await this.deleteBatch(pending.slice(0, DELETE_BATCH));
        pending = pending.slice(DELETE_BATCH);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (pending.length > 0) await this.deleteBatch(pending);
  }

  private async deleteBatch(keys: string[]): Promise<void> {
    const res = await this.client.send(
      new DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = res.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(
        `S3 did not delete ${failed.length} of ${keys.length} objects (${failed[0]?.Code ?? "unknown"}: ${failed[0]?.Key ?? "?"})`,
      );
    }
  }
}
