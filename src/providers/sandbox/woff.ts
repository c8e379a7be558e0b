/**
 * WOFF 1.0 to a plain TrueType/OpenType file. sharp's bundled FreeType reads TTF/OTF
 * but not WOFF, while some fonts reach npm only as WOFF; unwrapping one is lossless:
 * the same tables, inflated, behind an sfnt header (WOFF spec, W3C 2012, section 5).
 * Bytes in, bytes out; the inflating runs on the libuv pool (a 13 MB font would hold
 * the event loop for a while).
 */
import { promisify } from "node:util";
import { inflate } from "node:zlib";

const inflateAsync = promisify(inflate);

const WOFF_SIGNATURE = 0x774f4646; // "wOFF"
const WOFF_HEADER = 44;
const WOFF_ENTRY = 20;
const SFNT_HEADER = 12;
const SFNT_ENTRY = 16;

/** The size of the font the WOFF holds, from its header (to reuse an unwrapped copy). */
export function woffSfntSize(woff: Buffer): number {
  checkSignature(woff);
  return woff.readUInt32BE(16);
}

function checkSignature(woff: Buffer): void {
  if (woff.length < WOFF_HEADER || woff.readUInt32BE(0) !== WOFF_SIGNATURE)
    throw new Error("not a WOFF 1.0 file");
}

export async function sfntFromWoff(woff: Buffer): Promise<Buffer> {
  checkSignature(woff);
  const flavor = woff.readUInt32BE(4);
  const numTables = woff.readUInt16BE(12);
  if (WOFF_HEADER + numTables * WOFF_ENTRY > woff.length) throw new Error("truncated WOFF");

  // The binary-search fields every sfnt header carries.
  let entrySelector = 0;
  while (2 ** (entrySelector + 1) <= numTables) entrySelector++;
  const searchRange = 2 ** entrySelector * SFNT_ENTRY;
  const header = Buffer.alloc(SFNT_HEADER + numTables * SFNT_ENTRY);
  header.writeUInt32BE(flavor, 0);
  header.writeUInt16BE(numTables, 4);
  header.writeUInt16BE(searchRange, 6);
  header.writeUInt16BE(entrySelector, 8);
  header.writeUInt16BE(numTables * SFNT_ENTRY - searchRange, 10);

  const parts: Buffer[] = [header];
  let offset = header.length;
  for (let i = 0; i < numTables; i++) {
    const e = WOFF_HEADER + i * WOFF_ENTRY;
    const tag = woff.readUInt32BE(e);
    const at = woff.readUInt32BE(e + 4);
    const compLength = woff.readUInt32BE(e + 8);
    const origLength = woff.readUInt32BE(e + 12);
    const checksum = woff.readUInt32BE(e + 16);
    if (at + compLength > woff.length) throw new Error("truncated WOFF table");
    const stored = woff.subarray(at, at + compLength);
    // A table is stored compressed only when that made it smaller.
    const table = compLength < origLength ? await inflateAsync(stored) : stored;
    if (table.length !== origLength) throw new Error("WOFF table has the wrong length");
    const r = SFNT_HEADER + i * SFNT_ENTRY;
    header.writeUInt32BE(tag, r);
    header.writeUInt32BE(checksum, r + 4);
    header.writeUInt32BE(offset, r + 8);
    header.writeUInt32BE(origLength, r + 12);
    const pad = (4 - (table.length % 4)) % 4; // tables start on 4-byte boundaries
    parts.push(table, Buffer.alloc(pad));
    offset += table.length + pad;
  }
  return Buffer.concat(parts);
}
