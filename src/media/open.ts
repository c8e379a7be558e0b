/**
 * The one way a process opens its image storage: the backend the configuration
 * chooses (DARKROOM_STORAGE), checked and ready. Nothing above src/media names a
 * backend.
 */
import path from "node:path";
import type { StorageConfig } from "../config/storage.js";
import { FsStorage } from "./fs-storage.js";
import type { LinksLog } from "./s3-links.js";
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
  if (config.kind === "s3") {
    const { openS3Media } = await import("./s3-backend.js");
    return openS3Media(config, opts.log);
  }
  return {
    media: new FsStorage(path.join(opts.dataDir, "files")),
    directLink: null,
    close() {},
  };
}
