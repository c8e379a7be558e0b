/**
 * The one way a process opens its image storage: the backend the configuration
 * chooses (DARKROOM_STORAGE), checked and ready. Nothing above src/media names a
 * backend.
 */
import path from "node:path";
import type { StorageConfig } from "../config/storage.js";
import { FsStorage } from "./fs-storage.js";
import { checkBucket, createS3Client } from "./s3-client.js";
import { startPresignedLinks, type LinksLog } from "./s3-links.js";
import { S3Storage } from "./s3-storage.js";
import type { MediaStorage } from "./storage.js";

export interface OpenedMedia {
  media: MediaStorage;
  /**
   * Result links that go straight to the storage (presigned S3 URLs), expiring at
   * `expiresAtSec`; null = Darkroom's own signed /files links, served from `media`.
   */
  directLink: ((key: string, expiresAtSec: number) => string) | null;
  close(): void;
}

/** Rejects with a message naming the bucket when S3 storage cannot be reached. */
export async function openMediaStorage(
  config: StorageConfig,
  opts: { dataDir: string; log: LinksLog },
): Promise<OpenedMedia> {
  if (config.kind === "fs") {
    return {
      media: new FsStorage(path.join(opts.dataDir, "files")),
      directLink: null,
      close() {},
    };
  }
  const client = createS3Client(config);
  try {
    await checkBucket(client, config);
    const storage = new S3Storage(client, config.bucket, config.keyPrefix);
    const links =
      config.links === "presigned"
        ? await startPresignedLinks(client, config.bucket, config.region, opts.log)
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
