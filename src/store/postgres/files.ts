/** Uploaded files on PostgreSQL (see store/files.ts). */
import {
  exceedsQuota,
  fileFromRow,
  type FilePage,
  type FileQuota,
  type FileRow,
  type FileStore,
  type FileUsage,
  type ReserveResult,
  type UploadedFile,
} from "../files.js";
import type { PgDatabase, Queryable, Row } from "./database.js";

const LIVE = `state = 'live' AND expires_ms > $2`;

async function usageOf(q: Queryable, accountId: string, nowMs: number): Promise<FileUsage> {
  const [r] = await q.query<{ files: string; bytes: string }>(
    `SELECT COUNT(*) AS files, COALESCE(SUM(file_size), 0) AS bytes FROM uploaded_files
     WHERE account_id = $1 AND state IN ('pending', 'live') AND expires_ms > $2`,
    [accountId, nowMs],
  );
  return { files: Number(r?.files ?? 0), bytes: Number(r?.bytes ?? 0) };
}

export class PgFiles implements FileStore {
  constructor(private readonly db: PgDatabase) {}

  async reserveFile(
    file: UploadedFile,
    pendingUntilMs: number,
    quota: FileQuota,
    nowMs: number,
  ): Promise<ReserveResult> {
    return this.db.tx(async (q) => {
      // The account's row is the quota's lock: concurrent uploads of one account take
      // turns here, so their checks and inserts cannot interleave.
      await q.query(`SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, [file.accountId]);
      const usage = await usageOf(q, file.accountId, nowMs);
      if (exceedsQuota(usage, file.bytes, quota)) return { kind: "quota_exceeded", usage };
      await q.query(
        `INSERT INTO uploaded_files (id, account_id, storage_key, file_name, original_name, upload_path,
           mime_type, file_size, created_ms, expires_ms, live_expires_ms, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending')`,
        [
          file.id,
          file.accountId,
          file.key,
          file.fileName,
          file.originalName,
          file.uploadPath,
          file.mimeType,
          file.bytes,
          file.createdMs,
          pendingUntilMs,
          file.expiresMs,
        ],
      );
      return { kind: "reserved" };
    });
  }

  async commitFile(id: string, nowMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE uploaded_files SET state = 'live', expires_ms = live_expires_ms
       WHERE id = $1 AND state = 'pending' AND expires_ms > $2 RETURNING 1`,
      [id, nowMs],
    );
    return rows.length === 1;
  }

  async getFile(accountId: string, id: string, nowMs: number): Promise<UploadedFile | null> {
    const [r] = await this.db.query<FileRow & Row>(
      `SELECT * FROM uploaded_files WHERE id = $1 AND ${LIVE} AND account_id = $3`,
      [id, nowMs, accountId],
    );
    return r ? fileFromRow(r) : null;
  }

  async findLiveFile(id: string, nowMs: number): Promise<UploadedFile | null> {
    const [r] = await this.db.query<FileRow & Row>(
      `SELECT * FROM uploaded_files WHERE id = $1 AND ${LIVE}`,
      [id, nowMs],
    );
    return r ? fileFromRow(r) : null;
  }

  async listFiles(
    accountId: string,
    page: number,
    pageSize: number,
    nowMs: number,
  ): Promise<FilePage> {
    const rows = await this.db.query<FileRow & Row>(
      `SELECT * FROM uploaded_files WHERE account_id = $1 AND ${LIVE}
       ORDER BY created_ms DESC, id DESC LIMIT $3 OFFSET $4`,
      [accountId, nowMs, pageSize, (page - 1) * pageSize],
    );
    const [c] = await this.db.query<{ n: string }>(
      `SELECT COUNT(*) AS n FROM uploaded_files WHERE account_id = $1 AND ${LIVE}`,
      [accountId, nowMs],
    );
    return { files: rows.map(fileFromRow), total: Number(c?.n ?? 0) };
  }

  fileUsage(accountId: string, nowMs: number): Promise<FileUsage> {
    return usageOf(this.db, accountId, nowMs);
  }

  async expireFile(accountId: string, id: string, nowMs: number): Promise<UploadedFile | null> {
    const [r] = await this.db.query<FileRow & Row>(
      `UPDATE uploaded_files SET state = 'deleted', expires_ms = $2
       WHERE id = $1 AND account_id = $3 AND state = 'live' AND expires_ms > $2 RETURNING *`,
      [id, nowMs, accountId],
    );
    return r ? fileFromRow(r) : null;
  }

  async expiredFiles(nowMs: number, limit: number): Promise<Array<{ id: string; key: string }>> {
    const rows = await this.db.query<{ id: string; storage_key: string }>(
      `SELECT id, storage_key FROM uploaded_files WHERE expires_ms <= $1 ORDER BY expires_ms LIMIT $2`,
      [nowMs, limit],
    );
    return rows.map((r) => ({ id: r.id, key: r.storage_key }));
  }

  async forgetFiles(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await this.db.query(
      `DELETE FROM uploaded_files WHERE id = ANY($1::text[]) RETURNING 1`,
      [ids],
    );
    return rows.length;
  }
}
