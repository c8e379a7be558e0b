/** Uploaded files on SQLite (see store/files.ts). */
import type { Statement } from "better-sqlite3";
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
import type { SqliteConnection } from "./connection.js";

const LIVE = `state = 'live' AND expires_ms > ?`;

export class SqliteFiles implements FileStore {
  private readonly sql: Record<
    | "usage"
    | "insert"
    | "commit"
    | "get"
    | "find"
    | "page"
    | "count"
    | "expire"
    | "expired"
    | "forget",
    Statement
  >;

  constructor(private readonly conn: SqliteConnection) {
    this.sql = {
      usage: conn.prepare(
        `SELECT COUNT(*) AS files, COALESCE(SUM(file_size), 0) AS bytes FROM uploaded_files
         WHERE account_id = ? AND state IN ('pending', 'live') AND expires_ms > ?`,
      ),
      insert: conn.prepare(
        `INSERT INTO uploaded_files (id, account_id, storage_key, file_name, original_name, upload_path,
           mime_type, file_size, created_ms, expires_ms, live_expires_ms, state)
         VALUES (@id, @accountId, @key, @fileName, @originalName, @uploadPath, @mimeType, @bytes,
           @createdMs, @pendingUntilMs, @expiresMs, 'pending')`,
      ),
      commit: conn.prepare(
        `UPDATE uploaded_files SET state = 'live', expires_ms = live_expires_ms
         WHERE id = ? AND state = 'pending' AND expires_ms > ?`,
      ),
      get: conn.prepare(`SELECT * FROM uploaded_files WHERE id = ? AND account_id = ? AND ${LIVE}`),
      find: conn.prepare(`SELECT * FROM uploaded_files WHERE id = ? AND ${LIVE}`),
      page: conn.prepare(
        `SELECT * FROM uploaded_files WHERE account_id = ? AND ${LIVE}
         ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?`,
      ),
      count: conn.prepare(
        `SELECT COUNT(*) AS n FROM uploaded_files WHERE account_id = ? AND ${LIVE}`,
      ),
      expire: conn.prepare(
        `UPDATE uploaded_files SET state = 'deleted', expires_ms = ?
         WHERE id = ? AND account_id = ? AND ${LIVE} RETURNING *`,
      ),
      expired: conn.prepare(
        `SELECT id, storage_key FROM uploaded_files WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?`,
      ),
      forget: conn.prepare(`DELETE FROM uploaded_files WHERE id = ?`),
    };
  }

  private usageNow(accountId: string, nowMs: number): FileUsage {
    const r = this.sql.usage.get(accountId, nowMs) as { files: number; bytes: number };
    return { files: Number(r.files), bytes: Number(r.bytes) };
  }

  async reserveFile(
    file: UploadedFile,
    pendingUntilMs: number,
    quota: FileQuota,
    nowMs: number,
  ): Promise<ReserveResult> {
    return this.conn.write(() =>
      this.conn.transaction((): ReserveResult => {
        const usage = this.usageNow(file.accountId, nowMs);
        if (exceedsQuota(usage, file.bytes, quota)) return { kind: "quota_exceeded", usage };
        this.sql.insert.run({ ...file, pendingUntilMs });
        return { kind: "reserved" };
      })(),
    );
  }

  async commitFile(id: string, nowMs: number): Promise<boolean> {
    return this.conn.write(() => this.sql.commit.run(id, nowMs).changes === 1);
  }

  async getFile(accountId: string, id: string, nowMs: number): Promise<UploadedFile | null> {
    const r = this.sql.get.get(id, accountId, nowMs) as FileRow | undefined;
    return r ? fileFromRow(r) : null;
  }

  async findLiveFile(id: string, nowMs: number): Promise<UploadedFile | null> {
    const r = this.sql.find.get(id, nowMs) as FileRow | undefined;
    return r ? fileFromRow(r) : null;
  }

  async listFiles(
    accountId: string,
    page: number,
    pageSize: number,
    nowMs: number,
  ): Promise<FilePage> {
    const rows = this.sql.page.all(accountId, nowMs, pageSize, (page - 1) * pageSize) as FileRow[];
    const { n } = this.sql.count.get(accountId, nowMs) as { n: number };
    return { files: rows.map(fileFromRow), total: Number(n) };
  }

  async fileUsage(accountId: string, nowMs: number): Promise<FileUsage> {
    return this.usageNow(accountId, nowMs);
  }

  async expireFile(accountId: string, id: string, nowMs: number): Promise<UploadedFile | null> {
    return this.conn.write(() => {
      const r = this.sql.expire.get(nowMs, id, accountId, nowMs) as FileRow | undefined;
      return r ? fileFromRow(r) : null;
    });
  }

  async expiredFiles(nowMs: number, limit: number): Promise<Array<{ id: string; key: string }>> {
    const rows = this.sql.expired.all(nowMs, limit) as Array<{ id: string; storage_key: string }>;
    return rows.map((r) => ({ id: r.id, key: r.storage_key }));
  }

  async forgetFiles(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.conn.write(() =>
      this.conn.transaction(() => {
        let n = 0;
        for (const id of ids) n += this.sql.forget.run(id).changes;
        return n;
      })(),
    );
  }
}
