/**
 * Where result images live. The embedded default is files under the data dir
 * (fs-storage.ts); an S3-compatible bucket implements the same interface at scale.
 * Keys are relative, slash-separated and checked so they can never escape the root.
 */
import type { Readable } from "node:stream";

export interface StoredFile {
  stream: Readable;
  bytes: number;
  contentType: string;
}

export interface PutOptions {
  /**
   * The caller never reads `data` again: the storage may take its memory (a file
   * writer moves it to its thread instead of copying it). `data` is then empty.
   */
  handOver?: boolean;
}

export interface MediaStorage {
  put(key: string, data: Buffer, contentType: string, opts?: PutOptions): Promise<void>;
  open(key: string): Promise<StoredFile | null>;
  /** Removes a folder and everything under it; a missing one is fine. */
  remove(prefix: string): Promise<void>;
  /** The names of the folders directly under `prefix` (none when it does not exist). */
  listFolders(prefix: string): Promise<string[]>;
  /** The keys of the files directly in `folder`, unfinished writes' temp files included. */
  listFiles(folder: string): Promise<string[]>;
  /** Removes these files; missing ones are fine. */
  removeFiles(keys: readonly string[]): Promise<void>;
  /** Readies what the first put needs (writer threads), where anything does. */
  warm?(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function assertValidKey(key: string): void {
  const ok =
    key.length > 0 &&
    key.length <= 512 &&
    !key.startsWith("/") &&
    key.split("/").every((s) => SEGMENT.test(s) && s !== "." && s !== "..");
  if (!ok) throw new Error("invalid storage key");
}

const TYPES: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
};

export function contentTypeOf(key: string): string {
  return TYPES[key.slice(key.lastIndexOf(".") + 1).toLowerCase()] ?? "application/octet-stream";
}
