/** Uploaded files on PostgreSQL: the same table as SQLite's 009_files (store/files.ts). */
export const files: string[] = [
  `CREATE TABLE uploaded_files (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    storage_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    original_name TEXT NOT NULL,
    upload_path TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    file_size BIGINT NOT NULL CHECK (file_size >= 0),
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    live_expires_ms BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'live', 'deleted'))
  )`,
  `CREATE INDEX uploaded_files_account ON uploaded_files (account_id, created_ms)`,
  `CREATE INDEX uploaded_files_expiry ON uploaded_files (expires_ms)`,
];
