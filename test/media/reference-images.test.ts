/**
 * Reference images through the safe fetcher from a loopback image server: every
 * supported format passes (judged by bytes, not by extension), every failure reason
 * fails with image_processing_error naming the image.
 */
import net from "node:net";
import { crc32 } from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBmp, encodeBmp24, sniffImageFormat } from "../../src/media/image-format.js";
import {
  checkReferenceImage,
  createReferenceLoader,
  type ReferenceLoader,
} from "../../src/media/reference-images.js";
import { createSafeClient, parseOutboundAllow } from "../../src/net/safe-request.js";
import { ProviderError } from "../../src/providers/contract.js";
import { startHttp, type TestHttpServer } from "../net/servers.js";

const solid = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: "#3366cc" } });

/** A PNG whose header claims w×h but which carries almost no data (a decompression bomb). */
function headerOnlyPng(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A BMP header claiming w×h with no pixels. */
function headerOnlyBmp(w: number, h: number): Buffer {
  const b = encodeBmp24(Buffer.alloc(16 * 16 * 3), 16, 16, 3).subarray(0, 54);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  return Buffer.from(b);
}

let bodies: Record<string, Buffer>;
let web: TestHttpServer;
let load: ReferenceLoader;
let inFlight = 0;
let maxInFlight = 0;
let hanging = 0;

beforeAll(async () => {
  const raw = await solid(40, 30).raw().toBuffer();
  bodies = {
    // Extensions lie on purpose: the format is judged by the bytes.
    "/a.jpg": await solid(40, 30).png().toBuffer(),
    "/b.png": await solid(40, 30).jpeg().toBuffer(),
    "/c.webp": await solid(40, 30).webp().toBuffer(),
    "/d.bmp": encodeBmp24(raw, 40, 30, 3),
    "/e.tiff": await solid(40, 30).tiff().toBuffer(),
    "/f.gif": await solid(40, 30).gif().toBuffer(),
    "/tiny.png": await solid(14, 40).png().toBuffer(),
    "/wide.png": await solid(17 * 16, 16)
      .png()
      .toBuffer(),
    "/bomb.png": headerOnlyPng(8000, 5000),
    "/bomb.bmp": headerOnlyBmp(6001, 6000),
    "/text.png": Buffer.from("<html>definitely not an image</html>"),
    "/truncated.png": (await solid(400, 300).png().toBuffer()).subarray(0, 60),
    "/huge.png": Buffer.concat([
      await solid(40, 30).png().toBuffer(),
      Buffer.alloc(10 * 1024 * 1024),
    ]),
  };
  const routes: Parameters<typeof startHttp>[0] = {};
  for (const [p, body] of Object.entries(bodies))
    routes[p] = (_req, res) => {
      res.setHeader("content-type", "application/octet-stream");
      res.end(body);
    };
  routes["/slow.png"] = (_req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      res.end(bodies["/a.jpg"]);
    }, 40);
  };
  routes["/hang.png"] = (req) => {
    hanging++;
    req.on("close", () => hanging--);
  };
  web = await startHttp(routes);
  load = createReferenceLoader({ client: createSafeClient(parseOutboundAllow("127.0.0.1/32")) });
});
afterAll(() => web.close());

const urls = (...paths: string[]) => paths.map((p) => `${web.origin}${p}`);

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).code).toBe("image_processing_error");
  expect((err as ProviderError).retryable).toBe(false);
  return err as ProviderError;
}

describe("reference images", () => {
  it("accepts jpeg, png, webp, bmp, tiff and gif, judged by content", async () => {
    const refs = await load(
      { model: "m", imageUrls: urls("/a.jpg", "/b.png", "/c.webp", "/d.bmp", "/e.tiff", "/f.gif") },
      new AbortController().signal,
    );
    expect(refs.map((r) => r.contentType)).toEqual([
      "image/png",
      "image/jpeg",
      "image/webp",
      "image/png", // BMP converted: libvips cannot read it
      "image/tiff",
      "image/gif",
    ]);
    for (const r of refs) expect([r.width, r.height]).toEqual([40, 30]);
    // The converted BMP has the original's pixels.
    const px = await sharp(refs[3]!.data).raw().toBuffer();
    expect([px[0], px[1], px[2]]).toEqual([0x33, 0x66, 0xcc]);
  });

  it("reads BMP pixels faithfully (bottom-up rows, padding)", () => {
    const raw = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 1, 2, 3, 4, 5, 6]);
    const bmp = encodeBmp24(raw, 3, 2, 3);
    expect(sniffImageFormat(bmp)).toBe("bmp");
    const { data, channels } = decodeBmp(bmp);
    expect(channels).toBe(3);
    expect([...data.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect([...data.subarray(15, 18)]).toEqual([4, 5, 6]);
  });

  it("reads 1-bit palette and 32-bit bitfield BMPs (alpha kept)", () => {
    // 1 bpp, 10x2, top-down, palette black/white; row 0 = 1010101010, row 1 = all white.
    const pal = Buffer.alloc(14 + 40 + 8 + 8);
    pal.write("BM", 0, "latin1");
    pal.writeUInt32LE(62, 10);
    pal.writeUInt32LE(40, 14);
    pal.writeInt32LE(10, 18);
    pal.writeInt32LE(-2, 22);
    pal.writeUInt16LE(1, 26);
    pal.writeUInt16LE(1, 28);
    pal.writeUInt32LE(2, 46);
    pal.writeUInt32LE(0x00ffffff, 58); // palette[1] = white
    pal.set([0b10101010, 0b10000000, 0, 0], 62);
    pal.set([0xff, 0xff, 0, 0], 66);
    const one = decodeBmp(pal);
    expect([...one.data.subarray(0, 6)]).toEqual([255, 255, 255, 0, 0, 0]);
    expect([...one.data.subarray(30, 33)]).toEqual([255, 255, 255]);

    // 32 bpp BI_BITFIELDS with an alpha mask in a 56-byte header, 1x1: RGBA = 10,20,30,40.
    const bf = Buffer.alloc(14 + 56 + 4);
    bf.write("BM", 0, "latin1");
    bf.writeUInt32LE(70, 10);
    bf.writeUInt32LE(56, 14);
    bf.writeInt32LE(1, 18);
    bf.writeInt32LE(1, 22);
    bf.writeUInt16LE(1, 26);
    bf.writeUInt16LE(32, 28);
    bf.writeUInt32LE(3, 30);
    bf.writeUInt32LE(0x00ff0000, 54);
    bf.writeUInt32LE(0x0000ff00, 58);
    bf.writeUInt32LE(0x000000ff, 62);
    bf.writeUInt32LE(0xff000000, 66);
    bf.writeUInt32LE((40 << 24) | (10 << 16) | (20 << 8) | 30, 70);
    const rgba = decodeBmp(bf);
    expect(rgba.channels).toBe(4);
    expect([...rgba.data]).toEqual([10, 20, 30, 40]);
  });

  it("refuses RLE-compressed BMP as unsupported, naming the image", async () => {
    const rle = headerOnlyBmp(20, 20);
    rle.writeUInt16LE(8, 28);
    rle.writeUInt32LE(1, 30); // BI_RLE8
    const err = await failure(checkReferenceImage(rle, "image_urls[3]"));
    expect(err.message).toBe(
      "image_urls[3] is a BMP variant that is not supported (use an uncompressed BMP).",
    );
  });

  const cases: Array<[string, string, RegExp]> = [
    ["too many bytes", "/huge.png", /^image_urls\[1\] is larger than 10 MB\.$/],
    [
      "a side of 14 px",
      "/tiny.png",
      /^image_urls\[1\] is 14x40 pixels; both sides must be larger than 14 pixels\.$/,
    ],
    [
      "aspect beyond 16",
      "/wide.png",
      /^image_urls\[1\] is 272x16 pixels; its aspect ratio must be between 1:16 and 16:1\.$/,
    ],
    [
      "a 40 MP header-only PNG bomb",
      "/bomb.png",
      /^image_urls\[1\] is 8000x5000 pixels; at most 36,000,000 pixels are allowed\.$/,
    ],
    [
      "a 36 MP+ header-only BMP bomb",
      "/bomb.bmp",
      /^image_urls\[1\] is 6001x6000 pixels; at most 36,000,000/,
    ],
    [
      "not an image",
      "/text.png",
      /^image_urls\[1\] is not an image in a supported format \(jpeg, png, webp, bmp, tiff or gif\)\.$/,
    ],
    [
      "a truncated image",
      "/truncated.png",
      /^image_urls\[1\] could not be (read|decoded) as a PNG image\.$/,
    ],
    [
      "a missing image",
      "/missing.png",
      /^image_urls\[1\] could not be fetched: the server answered with HTTP status 404\.$/,
    ],
  ];
  it.each(cases)("fails on %s, naming the image", async (_name, path, message) => {
    const err = await failure(
      load({ model: "m", imageUrls: urls("/a.jpg", path) }, new AbortController().signal),
    );
    expect(err.message).toMatch(message);
  });

  it("fails on a blocked or unreachable URL without naming internals", async () => {
    const strict = createReferenceLoader({ client: createSafeClient(parseOutboundAllow("")) });
    const blocked = await failure(
      strict(
        { model: "m", imageUrls: ["http://192.168.0.10/x.png"] },
        new AbortController().signal,
      ),
    );
    expect(blocked.message).toBe(
      "image_urls[0] could not be fetched: the URL's host is not allowed (private address).",
    );
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await failure(
      load(
        { model: "m", imageUrls: [`http://127.0.0.1:${port}/a.jpg`] },
        new AbortController().signal,
      ),
    );
    expect(err.message).toBe(
      "image_urls[0] could not be fetched: the server could not be reached.",
    );
  });

  it("honours a per-model byte limit", async () => {
    const small = createReferenceLoader({
      client: createSafeClient(parseOutboundAllow("127.0.0.1/32")),
      maxBytesFor: () => 1024 * 1024,
    });
    const err = await failure(
      small({ model: "m", imageUrls: urls("/huge.png") }, new AbortController().signal),
    );
    expect(err.message).toBe("image_urls[0] is larger than 1 MB.");
  });

  it("downloads concurrently, at most 3 at a time", async () => {
    maxInFlight = 0;
    const refs = await load(
      { model: "m", imageUrls: urls(...Array<string>(7).fill("/slow.png")) },
      new AbortController().signal,
    );
    expect(refs).toHaveLength(7);
    expect(maxInFlight).toBe(3);
  });

  it("the first failure cancels the downloads still running", async () => {
    const t0 = Date.now();
    const err = await failure(
      load(
        { model: "m", imageUrls: urls("/hang.png", "/hang.png", "/text.png") },
        new AbortController().signal,
      ),
    );
    expect(err.message).toMatch(/^image_urls\[2\] is not an image/);
    expect(Date.now() - t0).toBeLessThan(5000); // not the 30 s timeout of the hanging ones
    const deadline = Date.now() + 5000;
    while (hanging > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(hanging).toBe(0);
  });

  it("a cancelled task reports its abort, not a download error", async () => {
    const ac = new AbortController();
    const reason = new Error("cancelled");
    ac.abort(reason);
    await expect(load({ model: "m", imageUrls: urls("/a.jpg") }, ac.signal)).rejects.toBe(reason);
  });

  it("checkReferenceImage refuses a bomb before decoding it", async () => {
    const t0 = Date.now();
    await failure(checkReferenceImage(headerOnlyPng(60000, 60000), "image_urls[0]"));
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
