/**
 * The synchronous presigner (src/media/s3-presigner.ts) against the AWS SDK's own
 * (@aws-sdk/s3-request-presigner): for the same object, credentials, signing time and
 * lifetime, the two URLs are identical, byte for byte, so S3 accepts ours exactly when
 * it accepts the SDK's. Covered: path style on a custom endpoint with a port, AWS's
 * virtual-hosted style, an endpoint with a path, temporary credentials (a session token
 * with characters that need escaping), the SDK's default checksum settings (an extra
 * fixed parameter), several days (the cached signing key) and several lifetimes.
 */
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, describe, expect, it } from "vitest";
import type { S3StorageConfig } from "../../src/config/storage.js";
import { createS3Client } from "../../src/media/s3-client.js";
import {
  S3GetPresigner,
  templateFromSdkUrl,
  type PresignCredentials,
} from "../../src/media/s3-presigner.js";

const STATIC: PresignCredentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const TEMPORARY: PresignCredentials = {
  accessKeyId: "ASIAEXAMPLE",
  secretAccessKey: "c2VjcmV0/with+odd=chars",
  sessionToken: "FwoGZXIvYXdzE+/token=with!odd'chars(*)",
};

function s3Config(over: Partial<S3StorageConfig>): S3StorageConfig {
  return {
    kind: "s3",
    bucket: "darkroom-images",
    region: "eu-west-1",
    endpoint: null,
    forcePathStyle: false,
    keyPrefix: "",
    links: "presigned",
    ...over,
  };
}

const clients: S3Client[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

async function compare(
  client: S3Client,
  bucket: string,
  region: string,
  creds: PresignCredentials,
) {
  const templateKey = "template-key";
  const template = templateFromSdkUrl(
    await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: templateKey }), {
      expiresIn: 60,
    }),
    templateKey,
  );
  const ours = new S3GetPresigner(template, region, () => creds);
  const cases = [
    {
      key: "images/20261206-1200/task-unified-1765022400-k3v9x2qa-0.jpg",
      at: 1_765_022_745,
      ttl: 120,
    },
    { key: "pre/fix/images/20261207-0000/t-1.png", at: 1_765_065_600, ttl: 86_400 },
    { key: "a.webp", at: 1_765_151_999, ttl: 604_800 },
    // The same second again: the per-second state is reused for another key.
    { key: "b.webp", at: 1_765_151_999, ttl: 604_800 },
  ];
  for (const c of cases) {
    const sdk = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: c.key }), {
      expiresIn: c.ttl,
      signingDate: new Date(c.at * 1000),
    });
    expect(ours.sign(c.key, c.at, c.ttl)).toBe(sdk);
  }
}

describe("S3GetPresigner gives the SDK's URL", () => {
  it("path style on a custom endpoint with a port (Darkroom's client settings)", async () => {
    const client = createS3Client(
      s3Config({ endpoint: "http://127.0.0.1:9000", forcePathStyle: true, region: "us-east-1" }),
    );
    client.config.credentials = async () => STATIC;
    clients.push(client);
    await compare(client, "darkroom-images", "us-east-1", STATIC);
  });

  it("AWS virtual-hosted style with temporary credentials", async () => {
    const client = new S3Client({
      region: "eu-west-1",
      credentials: TEMPORARY,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    clients.push(client);
    await compare(client, "darkroom-images", "eu-west-1", TEMPORARY);
  });

  it("an endpoint with a path, and the SDK's default checksum parameters", async () => {
    const client = new S3Client({
      region: "auto",
      endpoint: "https://storage.example.net/s3",
      forcePathStyle: true,
      credentials: STATIC,
    });
    clients.push(client);
    await compare(client, "darkroom-images", "auto", STATIC);
  });
});

describe("S3GetPresigner with credentials that change", () => {
  it("signs with the ones in force, even within the same second", async () => {
    const client = new S3Client({ region: "eu-west-1", credentials: STATIC });
    clients.push(client);
    const template = templateFromSdkUrl(
      await getSignedUrl(client, new GetObjectCommand({ Bucket: "b-1", Key: "t" }), {
        expiresIn: 60,
      }),
      "t",
    );
    let current = STATIC;
    const ours = new S3GetPresigner(template, "eu-west-1", () => current);
    const at = 1_765_022_745;
    const sdk = (creds: PresignCredentials) => {
      const c = new S3Client({ region: "eu-west-1", credentials: creds });
      clients.push(c);
      return getSignedUrl(c, new GetObjectCommand({ Bucket: "b-1", Key: "k.jpg" }), {
        expiresIn: 300,
        signingDate: new Date(at * 1000),
      });
    };
    expect(ours.sign("k.jpg", at, 300)).toBe(await sdk(STATIC));
    current = TEMPORARY;
    expect(ours.sign("k.jpg", at, 300)).toBe(await sdk(TEMPORARY));
  });
});

describe("templateFromSdkUrl", () => {
  it("refuses a URL that is not SigV4 over the host header alone", () => {
    expect(() =>
      templateFromSdkUrl(
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=host%3Bx-amz-acl",
        "k",
      ),
    ).toThrow(/host header alone/);
    expect(() => templateFromSdkUrl("https://b.s3.amazonaws.com/other?x=1", "k")).toThrow(/key/);
  });
});
