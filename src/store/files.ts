/**
 * The store seam for uploaded files (the file API, issue 16: `/api/v1/files/…`): one
 * row per upload, scoped to its account. The bytes live in media storage; a row says
 * which key, whose it is and until when it is kept. Each backend implements it
 * (store/sqlite/files.ts, store/postgres/files.ts); test/contract proves both.
 *
 * An upload is two steps so that a crash never leaves a file nobody will remove:
 * `reserveFile` writes a *pending* row (counted by the quota, expiring soon), the
 * bytes are written, then `commitFile` makes it *live* until its real expiry. A crash
 * in between leaves a pending row whose short expiry hands it, and whatever was
 * written under its key, to the janitor. Deleting works the same way: the row is
 * expired at once (`expireFile`), then the bytes and the row are removed; the janitor
 * finishes what a crash interrupted.
 */

export interface UploadedFile {
  /** `file_…`. */
  id: string;
  accountId: string;
  /** Where the bytes are in media storage. */
  key: string;
  fileName: string;
  originalName: string;
  uploadPath: string;
  mimeType: string;
  bytes: number;
  createdMs: number;
  /** Unix ms; the file is gone (for the API) from this moment. */
  expiresMs: number;
}

/** Per-account limits on live (and pending) files; null = no limit. */
export interface FileQuota {
  maxFiles: number | null;
  maxBytes: number | null;
}

/** What an account holds now: unexpired files, pending uploads included. */
export interface FileUsage {
  files: number;
  bytes: number;
}

export type ReserveResult =
  | { kind: "reserved" }
  /** Adding this file would pass `quota`; nothing was written. */
  | { kind: "quota_exceeded"; usage: FileUsage };

export interface FilePage {
  files: UploadedFile[];
  /** The account's live files, exact. */
  total: number;
}

export interface FileStore {
  /**
   * Records `file` as pending until `pendingUntilMs`, if the account's usage plus this
   * file stays within `quota`; the check and the insert are one transaction, so
   * concurrent uploads cannot together pass the quota.
   */
  reserveFile(
    file: UploadedFile,
    pendingUntilMs: number,
    quota: FileQuota,
    nowMs: number,
  ): Promise<ReserveResult>;
  /** Pending → live until `file.expiresMs` as reserved; false if the row is gone or expired. */
  commitFile(id: string, nowMs: number): Promise<boolean>;
  /** A live, unexpired file of this account, or null (another account's is null too). */
  getFile(accountId: string, id: string, nowMs: number): Promise<UploadedFile | null>;
  /** A live, unexpired file, whoever owns it (the runner reading a checked reference). */
  findLiveFile(id: string, nowMs: number): Promise<UploadedFile | null>;
  /** The account's live files, newest first; page from 1. */
  listFiles(accountId: string, page: number, pageSize: number, nowMs: number): Promise<FilePage>;
  fileUsage(accountId: string, nowMs: number): Promise<FileUsage>;
  /** Expires a live file of this account now; returns it, or null when there was none. */
  expireFile(accountId: string, id: string, nowMs: number): Promise<UploadedFile | null>;
  /** Up to `limit` expired rows (pending, live or deleted), oldest expiry first. */
  expiredFiles(nowMs: number, limit: number): Promise<Array<{ id: string; key: string }>>;
  /** Deletes these rows (their bytes already removed); returns how many went. */
  forgetFiles(ids: readonly string[]): Promise<number>;
}

/** The columns as both backends store them. */
export interface FileRow {
  id: string;
  account_id: string;
  storage_key: string;
  file_name: string;
  original_name: string;
  upload_path: string;
  mime_type: string;
  file_size: number | string;
  created_ms: number | string;
  expires_ms: number | string;
  live_expires_ms: number | string;
  state: string;
}

export function fileFromRow(r: FileRow): UploadedFile {
  return {
    id: r.id,
    accountId: r.account_id,
    key: r.storage_key,
    fileName: r.file_name,
    originalName: r.original_name,
    uploadPath: r.upload_path,
    mimeType: r.mime_type,
    bytes: Number(r.file_size),
    createdMs: Number(r.created_ms),
    expiresMs: Number(r.live_expires_ms),
  };
}

/** Would one more file of `bytes` pass the quota? */
export function exceedsQuota(usage: FileUsage, bytes: number, quota: FileQuota): boolean {
  if (quota.maxFiles !== null && usage.files + 1 > quota.maxFiles) return true;
  if (quota.maxBytes !== null && usage.bytes + bytes > quota.maxBytes) return true;
  return false;
}
