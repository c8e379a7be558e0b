/**
 * A real S3-compatible server for tests: s3rver on a loopback port, objects in a fresh
 * temp dir, in a child process. Its own process because s3rver's ListObjectsV2
 * continuation tokens use DES, which Node 20's OpenSSL 3 only has with
 * --openssl-legacy-provider (a flag the test process itself should not run with), and
 * because its clock then stays real when a test shifts Date.now (test/helpers/clock.ts).
 *
 * s3rver checks a presigned link's expiry but not SigV4 signatures; the signatures
 * are checked against the AWS SDK's own in test/media/s3-presigner.test.ts.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { S3Client } from "@aws-sdk/client-s3";

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface TestS3 {
  endpoint: string;
  /** A client of our own, to look into the bucket behind Darkroom's back. */
  client: S3Client;
  /** The environment for a Darkroom storing in `bucket` on this server. */
  env(bucket: string, extra?: Record<string, string>): Record<string, string>;
  /**
   * Writes one-byte objects straight into s3rver's directory (its file layout), for
   * tests that need thousands: through the API each put costs s3rver tens of ms.
   */
  seed(bucket: string, keys: string[]): void;
  stop(): Promise<void>;
}

export async function startS3rver(buckets: string[]): Promise<TestS3> {
  // The SDK finds credentials in the environment, as in production.
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  const dir = mkdtempSync(path.join(tmpdir(), "darkroom-s3rver-"));
  const main = path.join(path.dirname(fileURLToPath(import.meta.url)), "s3rver-process.mjs");
  const child = spawn(process.execPath, ["--openssl-legacy-provider", main, dir, ...buckets], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).once("line", (line) => {
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  return {
    endpoint,
    client,
    env: (bucket, extra = {}) => ({
      DARKROOM_STORAGE: "s3",
      DARKROOM_S3_BUCKET: bucket,
      DARKROOM_S3_ENDPOINT: endpoint,
      DARKROOM_S3_FORCE_PATH_STYLE: "true",
      ...extra,
    }),
    seed(bucket, keys) {
      for (const key of keys) {
        const file = path.join(dir, bucket, `${key}._S3rver_`);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(`${file}object`, "x");
        writeFileSync(`${file}object.md5`, "9dd4e461268c8034f5c8564e155c67a6");
        writeFileSync(`${file}metadata.json`, '{"content-type":"image/jpeg"}');
      }
    },
    async stop() {
      client.destroy();
      child.stdin!.end();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
