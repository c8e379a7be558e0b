/**
 * Listings that cost O(page) at any depth (issue 13): keyset indexes and exact task
 * counts kept by the database itself.
 *
 * Task counts. `task_counts` holds, per account, model and status, how many tasks there
 * are; `GET /v1/tasks` sums the matching rows for its `total` instead of counting tasks
 * (a COUNT(*) over a million tasks took 70 ms of event loop). Triggers keep it exact in
 * the same transaction as every insert, status change and delete of a task, whoever
 * writes it (the submissions' writer thread, claims, finishes, cancels, another process
 * on the same file, a future admin path), so no write path can forget it. Measured on
 * the writer thread at a million tasks: about 4 µs per submission (16 → 20 µs of SQL
 * per submission in batches of 512, ~2 ms per full batch), most of it the cost of
 * having a trigger at all (an empty one cost 2 µs per insert), the rest the upsert.
 * Counting per batch in the writer would be cheaper, and one more thing every write
 * path must remember.
 *
 * Indexes. A page is one walk of an index whose columns are the filter's equality
 * columns followed by the listing order (created_ms, id, read backwards for newest
 * first); the id breaks ties between tasks created in the same millisecond, so a walk
 * never sorts a tie group (a bulk import can make one arbitrarily large). Each index
 * costs bytes per task and time per write, so there are two, replacing 001's and 003's:
 *  - tasks_account_list (account_id, created_ms, id): no filter, the usual listing.
 *  - tasks_account_status_model (account_id, status, model, created_ms, id): status and
 *    model together; status alone is a merge of one walk per model the account has in
 *    that status, model alone a merge of at most four walks (one per status); the
 *    counts say which. A third index for model alone would have cost ~60 bytes per task
 *    to save a merge of a few walks.
 * Ascending, unlike the two they replace: new tasks have the largest created_ms, so they
 * land at the right end of their range, where SQLite fills pages; descending, they
 * landed at the left end and left pages half empty (117 and 157 bytes per task against
 * 66 and 94, at a million tasks grown one insert at a time). The pair costs 40 bytes
 * per task more than the old pair (161 against 121; the whole file 1,297 against 1,257).
 *
 * The same order for the operator's listings: accounts by creation, deliveries per
 * status and per account and status (no filter and account alone merge the three
 * statuses). The ledger needs nothing new: it pages on its integer id, and
 * ledger_account is (account_id, id) already.
 *
 * The whole step runs in one transaction (migrations/index.ts), so a process writing
 * tasks on the same file cannot slip an insert between the triggers' creation and the
 * backfill: every task is counted exactly once. It can also run again (IF NOT EXISTS,
 * the counts rebuilt from scratch) should a process die after its commit but before
 * the migration is recorded.
 */
const COUNT_IN = (row: "NEW" | "OLD") =>
  `INSERT INTO task_counts (account_id, model, status, n) VALUES (${row}.account_id, ${row}.model, ${row}.status, 1)
     ON CONFLICT (account_id, model, status) DO UPDATE SET n = n + 1;`;
const COUNT_OUT = (row: "NEW" | "OLD") =>
  `UPDATE task_counts SET n = n - 1
     WHERE account_id = ${row}.account_id AND model = ${row}.model AND status = ${row}.status;`;

export const listing: string[] = [
  // Rows stay at n = 0 once a group empties: at most accounts × models × 4 of them.
  `CREATE TABLE IF NOT EXISTS task_counts (
    account_id TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, model, status)
  ) WITHOUT ROWID`,
  `CREATE TRIGGER IF NOT EXISTS task_counts_insert AFTER INSERT ON tasks BEGIN ${COUNT_IN("NEW")} END`,
  // The WHEN clause skips the claims and heartbeats that set a status to what it was.
  `CREATE TRIGGER IF NOT EXISTS task_counts_update AFTER UPDATE OF account_id, model, status ON tasks
     WHEN OLD.account_id IS NOT NEW.account_id OR OLD.model IS NOT NEW.model OR OLD.status IS NOT NEW.status
   BEGIN ${COUNT_OUT("OLD")} ${COUNT_IN("NEW")} END`,
  `CREATE TRIGGER IF NOT EXISTS task_counts_delete AFTER DELETE ON tasks BEGIN ${COUNT_OUT("OLD")} END`,

  `DROP INDEX IF EXISTS tasks_account_created`,
  `DROP INDEX IF EXISTS tasks_account_status_created`,
  `CREATE INDEX IF NOT EXISTS tasks_account_list ON tasks (account_id, created_ms, id)`,
  `CREATE INDEX IF NOT EXISTS tasks_account_status_model ON tasks (account_id, status, model, created_ms, id)`,
  // After the index it reads (a covering walk instead of a scan of the table).
  `DELETE FROM task_counts`,
  `INSERT INTO task_counts (account_id, model, status, n)
     SELECT account_id, model, status, COUNT(*) FROM tasks GROUP BY account_id, status, model`,

  `CREATE INDEX IF NOT EXISTS accounts_created ON accounts (created_ms, id)`,
  `DROP INDEX IF EXISTS webhook_outbox_account`,
  `DROP INDEX IF EXISTS webhook_outbox_status`,
  `CREATE INDEX IF NOT EXISTS webhook_outbox_account_status ON webhook_outbox (account_id, status, created_ms, id)`,
  `CREATE INDEX IF NOT EXISTS webhook_outbox_status_list ON webhook_outbox (status, created_ms, id)`,
];
