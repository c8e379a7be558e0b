/**
 * Wires the file API (http/routes/uploads.ts) from the configuration: its settings, its
 * signed links (the result links' route, expiring with the file) and the submission's
 * check of `image_urls` that link to uploads.
 */
import type { Config } from "../config/config.js";
import { signFileUrl } from "../media/signed-url.js";
import type { MediaStorage } from "../media/storage.js";
import type { SafeClient } from "../net/safe-request.js";
import type { AppDeps } from "../http/app.js";
import { ownImageUrlsCheck } from "../http/routes/uploads.js";
import type { FileStore } from "../store/files.js";

export function fileApiRoutesSettings(opts: {
  config: Config["files"];
  files: FileStore;
  media: MediaStorage;
  outbound: SafeClient;
  /** DARKROOM_PUBLIC_URL, or the address listened on once known. */
  publicBase: () => string;
  secret: Buffer;
}): Pick<AppDeps, "fileApi" | "checkImageUrls"> {
  const { config } = opts;
  return {
    fileApi: {
      files: opts.files,
      media: opts.media,
      outbound: opts.outbound,
      settings: {
        ttlMs: config.ttlHours * 3_600_000,
        maxBytes: config.maxBytes,
        quota: { maxFiles: config.quotaFiles, maxBytes: config.quotaBytes },
      },
      uploadLink: (key, expiresMs) =>
        signFileUrl({
          baseUrl: opts.publicBase(),
          key,
          expiresAt: Math.floor(expiresMs / 1000),
          secret: opts.secret,
        }),
    },
    checkImageUrls: ownImageUrlsCheck(opts.files, opts.publicBase),
  };
}
