/**
 * The one S3 client a process uses, configured for S3-compatible servers as well as
 * AWS, and the start-up check that the bucket answers. Credentials come from the SDK's
 * own chain (environment, profile, web identity, instance role), never from us.
 */
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import type { S3StorageConfig } from "../config/storage.js";

export function createS3Client(cfg: S3StorageConfig): S3Client {
  // Proxied downloads hold a socket each while the client reads.
  const agent = { keepAlive: true, maxSockets: 256 };
  return new S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint ?? undefined,
    forcePathStyle: cfg.forcePathStyle,
    // The SDK's newer default checksums (CRC32 headers, x-amz-checksum-mode on GETs)
    // are not understood by every S3-compatible server; send them only where an
    // operation requires one (DeleteObjects).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // No request or socket timeout: a proxied download to a slow client pauses the S3
    // socket for as long as the client takes, and a put is bounded by the attempt's
    // own time limit (runner/attempt.ts).
    requestHandler: { connectionTimeout: 5000, httpAgent: agent, httpsAgent: agent },
  });
}

/** Throws a message naming the bucket when it cannot be reached with these credentials. */
export async function checkBucket(client: S3Client, cfg: S3StorageConfig): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: cfg.bucket }));
  } catch (err) {
    // The error's name, a socket error's code and the HTTP status say what went wrong
    // without echoing anything the SDK was given.
    const e = err as { name?: string; code?: unknown; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const code = typeof e.code === "string" ? ` ${e.code}` : "";
    const where = cfg.endpoint ?? `AWS S3 (${cfg.region})`;
    throw new Error(
      `S3 bucket "${cfg.bucket}" at ${where} is not usable: ${e.name ?? "Error"}${code}${status ? ` (HTTP ${status})` : ""}`,
    );
  }
}
