/**
 * What signing a result link costs, per link, on the poll path (`npx tsx
 * bench/result-links.ts`): Darkroom's own HMAC link (fs storage, proxied S3), the
 * synchronous S3 presigner (presigned S3), and the AWS SDK's async presigner it
 * stands in for; then a whole completed task view with 4 links, rendered and
 * serialised as the poll fast path does. No network: the SDK client only signs.
 */
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { taskView, type PublicTaskSource } from "../src/core/public-task.js";
import { compileTaskSerializer } from "../src/http/fast-paths/respond.js";
import { S3GetPresigner, templateFromSdkUrl } from "../src/media/s3-presigner.js";
import { signFileUrl } from "../src/media/signed-url.js";

const creds = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const client = new S3Client({
  region: "eu-west-1",
  credentials: creds,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
const bucket = "darkroom-images";
const secret = Buffer.alloc(32, 7);
const key = (i: number) => `images/20261206-1200/task-unified-1765022400-k3v9x2qa-${i % 4}.jpg`;
const template = templateFromSdkUrl(
  await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: "t" }), { expiresIn: 60 }),
  "t",
);
const presigner = new S3GetPresigner(template, "eu-west-1", () => creds);
const now = () => Math.floor(Date.now() / 1000);

function timeSync(label: string, n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < n / 10; i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label.padEnd(58)} ${us.toFixed(2).padStart(8)} µs`);
  return us;
}

async function timeAsync(label: string, n: number, fn: (i: number) => Promise<unknown>) {
  for (let i = 0; i < n / 10; i++) await fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label.padEnd(58)} ${us.toFixed(2).padStart(8)} µs`);
}

const hmacLink = (k: string) =>
  signFileUrl({ baseUrl: "https://darkroom.example", key: k, expiresAt: now() + 86_400, secret });
const s3Link = (k: string) => presigner.sign(k, now(), 86_400);

console.log("per link:");
timeSync("Darkroom HMAC link (signFileUrl)", 200_000, (i) => hmacLink(key(i)));
timeSync("presigned S3 link, synchronous (S3GetPresigner)", 200_000, (i) => s3Link(key(i)));
await timeAsync("presigned S3 link, SDK getSignedUrl (async)", 5_000, (i) =>
  getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key(i) }), {
    expiresIn: 86_400,
  }),
);

const task: PublicTaskSource = {
  id: "task-unified-1765022400-k3v9x2qa",
  model: "doubao-seedream-4.0",
  status: "completed",
  progress: 100,
  createdAt: 1_765_022_400,
  userGroup: "default",
  creditsReservedMicros: 7_200_000,
  creditsUsedMicros: 7_200_000,
  estimatedSeconds: 45,
  results: [0, 1, 2, 3].map((i) => ({ key: key(i) })),
  errorCode: null,
  errorMessage: null,
  cancellable: false,
};
const serialize = compileTaskSerializer();
console.log("completed task view with 4 links, rendered and serialised:");
timeSync("with Darkroom HMAC links", 100_000, () => serialize(taskView(task, hmacLink)));
timeSync("with presigned S3 links", 100_000, () => serialize(taskView(task, s3Link)));
client.destroy();
