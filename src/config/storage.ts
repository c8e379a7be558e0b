/**
 * Where result images are stored (DARKROOM_STORAGE), validated at boot:
 *
 *   fs (default)  files under the data dir, served through Darkroom's signed links
 *   s3            an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...):
 *                 DARKROOM_S3_BUCKET, DARKROOM_S3_REGION (or AWS_REGION),
 *                 DARKROOM_S3_ENDPOINT, DARKROOM_S3_FORCE_PATH_STYLE, DARKROOM_S3_PREFIX,
 *                 DARKROOM_S3_LINKS = presigned (S3 links) | proxied (Darkroom's links)
 *
 * Credentials are not configuration: the AWS SDK finds them itself (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, instance roles), so they are never
 * held in, or logged with, the config.
 */

export type S3LinkMode = "presigned" | "proxied";

export interface S3StorageConfig {
  kind: "s3";
  bucket: string;
  region: string;
  /** Custom endpoint for S3-compatible servers; null = AWS's own for the region. */
  endpoint: string | null;
  /** Address the bucket in the path (`host/bucket/key`) instead of the host name. */
  forcePathStyle: boolean;
  /** Prepended to every key: "" or segments ending in "/". */
  keyPrefix: string;
  /** presigned: result links go straight to the bucket; proxied: Darkroom streams them. */
  links: S3LinkMode;
}

export type StorageConfig = { kind: "fs" } | S3StorageConfig;

/** SigV4 presigned URLs live at most 7 days (S3 refuses a longer X-Amz-Expires). */
export const MAX_PRESIGNED_SECONDS = 604_800;

type Env = Record<string, string | undefined>;

const S3_VARS = [
  "DARKROOM_S3_BUCKET",
  "DARKROOM_S3_REGION",
  "DARKROOM_S3_ENDPOINT",
  "DARKROOM_S3_FORCE_PATH_STYLE",
  "DARKROOM_S3_PREFIX",
  "DARKROOM_S3_LINKS",
];

/**
 * Throws `fail(message)` (the caller's ConfigError) on the first problem; `readBool`
 * is the caller's boolean parser (unset = false), so every boolean reads the same.
 */
export function loadStorageConfig(
  env: Env,
  resultUrlTtlSeconds: number,
  fail: (message: string) => Error,
  readBool: (name: string) => boolean,
): StorageConfig {
  const kind = env.DARKROOM_STORAGE || "fs";
  if (kind === "fs") {
    // An S3 setting without DARKROOM_STORAGE=s3 is a half-done switch: images would
    // quietly land on local disk.
    const stray = S3_VARS.find((v) => env[v]);
    if (stray) throw fail(`${stray} is set but DARKROOM_STORAGE is not s3`);
    return { kind: "fs" };
  }
  if (kind !== "s3") throw fail("DARKROOM_STORAGE must be fs or s3");

  const bucket = env.DARKROOM_S3_BUCKET ?? "";
  if (!bucket) throw fail("DARKROOM_S3_BUCKET is required with DARKROOM_STORAGE=s3");
  // S3's bucket naming rules (what every S3-compatible server accepts).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes("..")) {
    throw fail("DARKROOM_S3_BUCKET must be an S3 bucket name (3-63 of a-z, 0-9, '.', '-')");
  }

  const endpointRaw = env.DARKROOM_S3_ENDPOINT || null;
  let endpoint: string | null = null;
  if (endpointRaw !== null) {
    let u: URL | null = null;
    try {
      u = new URL(endpointRaw);
    } catch {
      u = null;
    }
    if (!u || !["http:", "https:"].includes(u.protocol) || u.username || u.password || u.search) {
      throw fail("DARKROOM_S3_ENDPOINT must be an http(s) URL without credentials or query");
    }
    endpoint = endpointRaw.replace(/\/+$/, "");
  }

  // A custom endpoint (MinIO and the like) usually ignores the region; AWS needs it.
  const region = env.DARKROOM_S3_REGION || env.AWS_REGION || (endpoint ? "us-east-1" : "");
  if (!region) throw fail("DARKROOM_S3_REGION (or AWS_REGION) is required for AWS S3");
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw fail("DARKROOM_S3_REGION is not a region name");

  const forcePathStyle = readBool("DARKROOM_S3_FORCE_PATH_STYLE");

  const prefix = (env.DARKROOM_S3_PREFIX ?? "").replace(/^\/+|\/+$/g, "");
  const segmentsOk = prefix
    .split("/")
    .every((s) => /^[A-Za-z0-9._-]+$/.test(s) && s !== "." && s !== "..");
  if (prefix !== "" && (!segmentsOk || prefix.length > 256)) {
    throw fail(
      "DARKROOM_S3_PREFIX must be slash-separated segments of A-Z, a-z, 0-9, '.', '_', '-'",
    );
  }

  const links = env.DARKROOM_S3_LINKS || "presigned";
  if (links !== "presigned" && links !== "proxied") {
    throw fail("DARKROOM_S3_LINKS must be presigned or proxied");
  }
  if (links === "presigned" && resultUrlTtlSeconds > MAX_PRESIGNED_SECONDS) {
    throw fail(
      `DARKROOM_RESULT_URL_TTL must be at most ${MAX_PRESIGNED_SECONDS} (7 days) with presigned S3 links; use DARKROOM_S3_LINKS=proxied for longer`,
    );
  }

  return {
    kind: "s3",
    bucket,
    region,
    endpoint,
    forcePathStyle,
    keyPrefix: prefix ? `${prefix}/` : "",
    links,
  };
}
