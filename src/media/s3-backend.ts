/**
 * The S3 backend as open.ts hands it out: the client, the start-up check that the
 * bucket answers, the storage, and presigned links when configured. Loaded only when
 * DARKROOM_STORAGE=s3: the AWS SDK takes a noticeable part of a second to import.
 */
import type { S3StorageConfig } from "../config/storage.js";
import type { OpenedMedia } from "./open.js";
import { checkBucket, createS3Client } from "./s3-client.js";
import { startPresignedLinks, type LinksLog } from "./s3-links.js";
import { S3Storage } from "./s3-storage.js";

export async function openS3Media(config: S3StorageConfig, log: LinksLog): Promise<OpenedMedia> {
  const client = createS3Client(config);
  try {
    await checkBucket(client, config);
    const storage = new S3Storage(client, config.bucket, config.keyPrefix);
    const links =
      config.links === "presigned"
        ? await startPresignedLinks(client, config.bucket, config.region, log)
        : null;
    return {
      media: storage,
      directLink: links
        ? (key, expiresAtSec) => links.link(storage.objectKey(key), expiresAtSec)
        : null,
      close() {
        links?.stop();
        client.destroy();
      },
    };
  } catch (err) {
    client.destroy();
    throw err;
  }
}
