/**
 * Image formats judged by content bytes (never by URL extension or Content-Type), and
 * a small BMP reader: libvips as shipped with sharp cannot decode BMP, so we read its
 * header for dimensions and convert its pixels ourselves. Pure functions, no I/O.
 */

export type ImageFormat = "jpeg" | "png" | "webp" | "bmp" | "tiff" | "gif";

export const FORMAT_CONTENT_TYPES: Record<ImageFormat, string> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  bmp: "image/bmp",
  tiff: "image/tiff",
  gif: "image/gif",
};

const startsWith = (b: Uint8Array, bytes: number[], at = 0) =>
  b.length >= at + bytes.length && bytes.every((x, i) => b[at + i] === x);

/** The format the magic number says, or null (the console runs it too, on a file's first bytes). */
export function sniffImageFormat(b: Uint8Array): ImageFormat | null {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return "jpeg";
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b, [0x57, 0x45, 0x42, 0x50], 8))
    return "webp";
  if (startsWith(b, [0x47, 0x49, 0x46, 0x38]) && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61)
    return "gif";
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]))
    return "tiff";
  if (startsWith(b, [0x42, 0x4d]) && b.length >= 26) return "bmp";
  return null;
}

export class BmpError extends Error {
  override name = "BmpError";
}

export interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  pixelOffset: number;
  headerSize: number;
  paletteOffset: number;
  paletteEntrySize: number;
  paletteSize: number;
  masks: { r: number; g: number; b: number; a: number } | null;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** Reads the BMP headers (no pixel access): enough to check dimensions before decoding. */
export function readBmpHeader(b: Buffer): BmpHeader {
  if (b.length < 26 || b.toString("latin1", 0, 2) !== "BM") throw new BmpError("not a BMP");
  const pixelOffset = b.readUInt32LE(10);
  const headerSize = b.readUInt32LE(14);
  if (headerSize === 12) {
    return {
      width: b.readUInt16LE(18),
      height: b.readUInt16LE(20),
      topDown: false,
      bitsPerPixel: b.readUInt16LE(24),
      compression: BI_RGB,
      pixelOffset,
      headerSize,
      paletteOffset: 14 + headerSize,
      paletteEntrySize: 3,
      paletteSize: 0,
      masks: null,
    };
  }
  if (headerSize < 40 || b.length < 14 + 40) throw new BmpError("unsupported BMP header");
  const rawHeight = b.readInt32LE(22);
  const bitsPerPixel = b.readUInt16LE(28);
  const compression = b.readUInt32LE(30);
  let masks: BmpHeader["masks"] = null;
  let paletteOffset = 14 + headerSize;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const withAlpha = compression === BI_ALPHABITFIELDS || headerSize >= 56;
    if (b.length < 54 + (withAlpha ? 16 : 12)) throw new BmpError("truncated BMP header");
    masks = {
      r: b.readUInt32LE(54),
      g: b.readUInt32LE(58),
      b: b.readUInt32LE(62),
      a: withAlpha ? b.readUInt32LE(66) : 0,
    };
    // In a 40-byte header the masks follow it; larger headers hold them inside.
    if (headerSize === 40) paletteOffset += compression === BI_ALPHABITFIELDS ? 16 : 12;
  }
  return {
    width: b.readInt32LE(18),
    height: Math.abs(rawHeight),
    topDown: rawHeight < 0,
    bitsPerPixel,
    compression,
    pixelOffset,
    headerSize,
    paletteOffset,
    paletteEntrySize: 4,
    paletteSize: b.readUInt32LE(46),
    masks,
  };
}

function maskReader(mask: number): (v: number) => number {
  if (mask === 0) return () => 255;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return (v) => Math.round((((v & mask) >>> shift) * 255) / max);
}

export interface BmpDecoder {
  width: number;
  height: number;
  /** 4 when the BMP carries an alpha mask, else 3. */
  channels: 3 | 4;
  /** Raw pixels, top row first; filled by decodeRows. */
  data: Buffer;
  /** Decodes output rows [from, to). Rows are independent: callers may yield between slices. */
  decodeRows(from: number, to: number): void;
}

/**
 * Prepares decoding an uncompressed BMP (1/4/8-bit palette, 16/24/32-bit, bitfields)
 * into raw RGB(A). Call only after checking readBmpHeader's dimensions (this allocates
 * width × height × channels bytes); RLE is not supported.
 */
export function bmpDecoder(b: Buffer): BmpDecoder {
  const h = readBmpHeader(b);
  const { width, height, bitsPerPixel: bpp } = h;
  if (width <= 0 || height <= 0) throw new BmpError("invalid BMP dimensions");
  const supported =
    (h.compression === BI_RGB && [1, 4, 8, 16, 24, 32].includes(bpp)) ||
    ((h.compression === BI_BITFIELDS || h.compression === BI_ALPHABITFIELDS) &&
      (bpp === 16 || bpp === 32));
  if (!supported) throw new BmpError("unsupported BMP encoding");
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (h.pixelOffset + stride * height > b.length) throw new BmpError("truncated BMP pixel data");

  let palette: Array<[number, number, number]> = [];
  if (bpp <= 8) {
    const count = Math.min(h.paletteSize || 2 ** bpp, 2 ** bpp);
    if (h.paletteOffset + count * h.paletteEntrySize > b.length)
      throw new BmpError("truncated BMP palette");
    palette = Array.from({ length: count }, (_, i) => {
      const at = h.paletteOffset + i * h.paletteEntrySize;
      return [b[at + 2]!, b[at + 1]!, b[at]!];
    });
  }
  const masks =
    h.masks ??
    (bpp === 16
      ? { r: 0x7c00, g: 0x03e0, b: 0x001f, a: 0 }
      : { r: 0x00ff0000, g: 0x0000ff00, b: 0x000000ff, a: 0 });
  const [rd, gd, bd, ad] = [masks.r, masks.g, masks.b, masks.a].map(maskReader) as [
    (v: number) => number,
    (v: number) => number,
    (v: number) => number,
    (v: number) => number,
  ];
  const channels: 3 | 4 = bpp >= 16 && masks.a ? 4 : 3;
  const out = Buffer.alloc(width * height * channels);

  const decodeRows = (from: number, to: number) => {
    for (let y = from; y < Math.min(to, height); y++) {
      const row = h.pixelOffset + (h.topDown ? y : height - 1 - y) * stride;
      let o = y * width * channels;
      for (let x = 0; x < width; x++, o += channels) {
        if (bpp <= 8) {
          const bit = x * bpp;
          const idx = (b[row + (bit >> 3)]! >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
          const c = palette[idx] ?? [0, 0, 0];
          out[o] = c[0];
          out[o + 1] = c[1];
          out[o + 2] = c[2];
        } else if (bpp === 24) {
          const at = row + x * 3;
          out[o] = b[at + 2]!;
          out[o + 1] = b[at + 1]!;
          out[o + 2] = b[at]!;
        } else {
          const v = bpp === 16 ? b.readUInt16LE(row + x * 2) : b.readUInt32LE(row + x * 4);
          out[o] = rd(v);
          out[o + 1] = gd(v);
          out[o + 2] = bd(v);
          if (channels === 4) out[o + 3] = ad(v);
        }
      }
    }
  };
  return { width, height, channels, data: out, decodeRows };
}

/** Decodes a whole BMP at once (small images, tests); see bmpDecoder. */
export function decodeBmp(b: Buffer): {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
} {
  const d = bmpDecoder(b);
  d.decodeRows(0, d.height);
  return { data: d.data, width: d.width, height: d.height, channels: d.channels };
}

/** A 24-bit bottom-up BMP from raw RGB(A) pixels: for tests and tooling. */
export function encodeBmp24(
  pixels: Buffer,
  width: number,
  height: number,
  channels: 3 | 4,
): Buffer {
  const stride = Math.floor((24 * width + 31) / 32) * 4;
  const out = Buffer.alloc(54 + stride * height);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(stride * height, 34);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      out[row + x * 3] = pixels[i + 2]!;
      out[row + x * 3 + 1] = pixels[i + 1]!;
      out[row + x * 3 + 2] = pixels[i]!;
    }
  }
  return out;
}
