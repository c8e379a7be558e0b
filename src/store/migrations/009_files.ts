/**
 * Uploaded files (issue 16, the file API; store/files.ts). `expires_ms` is when the row
 * stops counting and the janitor may remove it: a short time after a pending upload
 * started, the real expiry once it is live (`live_expires_ms`, kept from the reserve),
 * the moment of a delete. Listing and quota read an account's rows by
 * (account_id, created_ms); the janitor finds expired rows by expires_ms, a batch at a
 * time. An account holds at most its quota of rows, so the per-account reads are small.
 */
export const files: string[] = [
  `CREATE TABLE IF NOT EXISTS uploaded_files (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    storage_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    original_name TEXT NOT NULL,
    upload_path TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    file_size INTEGER NOT NULL CHECK (file_size >= 0),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    live_expires_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'live', 'deleted'))
  )`,
  `CREATE INDEX IF NOT EXISTS uploaded_files_account ON uploaded_files (account_id, created_ms)`,
  `CREATE INDEX IF NOT EXISTS uploaded_files_expiry ON uploaded_files (expires_ms)`,
];
