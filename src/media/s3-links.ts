/**
 * Presigned result links for the S3 backend: the SDK presigns one template URL at
 * start (endpoint, addressing style, fixed parameters), then every link is signed
 * synchronously by s3-presigner.ts with the credentials in force. Temporary credentials
 * (roles, SSO) are re-read from the SDK's chain every minute; the SDK refreshes them
 * before they expire, so new links are always signed with live ones.
 */
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { S3GetPresigner, templateFromSdkUrl, type PresignCredentials } from "./s3-presigner.js";

const TEMPLATE_KEY = "darkroom-link-template";
const CREDENTIALS_REFRESH_MS = 60_000;

export interface PresignedLinks {
  /** A GET link to the object for storage key `objectKey`, expiring at `expiresAtSec`. */
  link(objectKey: string, expiresAtSec: number): string;
  stop(): void;
}

export interface LinksLog {
  warn(obj: object, msg: string): void;
}

export async function startPresignedLinks(
  client: S3Client,
  bucket: string,
  region: string,
  log: LinksLog,
): Promise<PresignedLinks> {
  let credentials: PresignCredentials = await client.config.credentials();
  const url = await getSignedUrl(
    client,
    new GetObjectCommand({ Bucket: bucket, Key: TEMPLATE_KEY }),
    {
      expiresIn: 60,
    },
  );
  const presigner = new S3GetPresigner(
    templateFromSdkUrl(url, TEMPLATE_KEY),
    region,
    () => credentials,
  );
  const timer = setInterval(() => {
    client.config.credentials().then(
      (c) => {
        credentials = c;
      },
      (err: unknown) =>
        log.warn(
          { err: (err as Error).name },
          "could not refresh S3 credentials; signing with the last ones",
        ),
    );
  }, CREDENTIALS_REFRESH_MS);
  timer.unref();
  return {
    link(objectKey, expiresAtSec) {
      const now = Math.floor(Date.now() / 1000);
      // Signed now for the time left, so the link dies exactly when Darkroom's would.
      return presigner.sign(objectKey, now, Math.max(1, expiresAtSec - now));
    },
    stop: () => clearInterval(timer),
  };
}
