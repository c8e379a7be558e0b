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

export function newTaskId(nowMs = Date.now()): string {
  return `task-unified-${Math.floor(nowMs / 1000)}-${randomChars(8)}`;
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
