// The scale benchmark's bulk fill on PostgreSQL (not a test): the same history as
// bench/scale-fill.js writes into SQLite (read its header for the mix of rows), written
// set-wise with generate_series, a chunk of tasks per statement, into a schema a
// gateway created and bootstrapped.
//
// Fast, and the same store a live gateway leaves: each chunk is inserted with
// `session_replication_role = replica` (no row triggers, no per-row foreign-key checks:
// every id the fill writes comes from the rows it joins), and the tables the triggers
// keep (task_counts, model_queue, task_minutes) get, in the same statement, exactly what
// the triggers would have added for the chunk's rows (INSERT_TASKS_DERIVED; a grow
// refuses a schema with a trigger this file does not know). The balances, the ledger's running totals and
// the keys' totals are the fill's own set-wise statements, as before. The non-unique
// indexes of the filled tables are dropped for a grow and built again after it (unique
// ones stay, so a duplicate still fails at once): the indexes end compact, as in a
// restored database, rather than as page splits leave them. `{ fast: false }` fills the
// slow way (triggers and every index live), for bench/scale-fill-pg-check.js, which
// proves the two leave the same derived tables.
//
// The same interface as ScaleFill, with promises: grow, removeSubmitted, positionAt,
// close, sizes, bytes, and the fixture's ids (sample, newest).
import pg from "pg";

const MODELS = `(VALUES
  (0, 'doubao-seedream-4.0', 1800000, 45, 'ark-main'),
  (1, 'doubao-seedream-4.5', 2500000, 45, 'ark-main'),
  (2, 'doubao-seedream-5.0-lite', 2000000, 45, 'ark-main'),
  (3, 'gpt-image-1', 4000000, 60, 'openai-main')) AS m(idx, model, price, estimate, channel)`;
const SIZES = `(VALUES
  (0, '{"kind":"auto","width":2048,"height":2048}', '2K', 2048, 2048),
  (1, '{"kind":"ratio","ratio":"16:9","quality":"2K","width":2848,"height":1600}', '2K', 2848, 1600),
  (2, '{"kind":"ratio","ratio":"9:16","quality":"2K","width":1600,"height":2848}', '2K', 1600, 2848),
  (3, '{"kind":"ratio","ratio":"1:1","quality":"1K","width":1024,"height":1024}', '1K', 1024, 1024),
  (4, '{"kind":"ratio","ratio":"4:3","quality":"2K","width":2304,"height":1728}', '2K', 2304, 1728))
  AS s(idx, size_json, quality, width, height)`;
const FAILURES = `(VALUES
  (0, 'content_policy_violation', 'The request was rejected by the upstream''s content policy.'),
  (1, 'service_error', 'The upstream service returned an error (HTTP 500).'),
  (2, 'timeout', 'The upstream did not answer within the channel''s timeout.'),
  (3, 'request_cancelled', 'The task was cancelled.')) AS f(idx, code, message)`;
const WORDS = (
  "a an the serene misty golden ancient futuristic quiet crowded lonely neon rainy snowy " +
  "lake mountain city street forest harbour lighthouse castle market garden desert river " +
  "portrait of young old woman man child cat dog fox dragon robot astronaut sailor " +
  "at sunset dawn night noon in winter spring autumn summer under stars with soft light " +
  "dramatic shadows oil painting watercolor photograph cinematic wide angle close-up " +
  "highly detailed 35mm film grain studio lighting bokeh isometric illustration poster"
).split(" ");
const TOPUP_MICROS = 10_000_000 * 1_000_000;
const CHUNK = 100_000;

/**
 * One chunk of tasks [$1, $2) in a temporary table, every random draw made once per
 * task: the account (the big one with `bigShare`, else Zipf over the others), model,
 * images, size, callback, failure, times.
 */
const CHUNK_SQL = `
CREATE TEMP TABLE fill_chunk AS
WITH g AS (
  SELECT i, floor($3 + (i + random()) * $4)::bigint AS created_ms,
    random() AS r_acct, random() AS r_zipf, random() AS r_model, random() AS r_n, random() AS r_size,
    random() AS r_cb, random() AS r_fail, random() AS r_start, random() AS r_dur, random() AS r_idem,
    random() AS r_short, random() AS r_refs, random() AS r_words
  FROM generate_series($1::bigint, $2::bigint - 1) AS i),
p AS (
  SELECT g.*,
    CASE WHEN r_acct < $5 THEN 0
      ELSE 1 + LEAST($6 - 1, floor(power($6 + 1, r_zipf))::int - 1) END AS acct_idx,
    CASE WHEN r_model < 0.6 THEN 0 WHEN r_model < 0.8 THEN 1 WHEN r_model < 0.9 THEN 2 ELSE 3 END AS model_idx,
    CASE WHEN r_n < 0.7 THEN 1 WHEN r_n < 0.9 THEN 2 ELSE 4 END AS n,
    CASE WHEN r_fail < 0.04 THEN LEAST(3, floor(r_fail / 0.01)::int) END AS fail_idx,
    floor(r_size * 5)::int AS size_idx
  FROM g),
t AS (
  SELECT p.i, p.created_ms, p.n, p.r_cb, p.r_idem, p.r_refs, p.r_words, p.r_short,
    'task-unified-' || (p.created_ms / 1000) || '-'
      || lpad(to_hex(((p.created_ms % 1000) * 256 / 1000)::int), 2, '0')
      || substr(md5(random()::text), 1, 6) AS id,
    a.id AS account_id, a.key_id, a.callback, m.model, m.price, m.estimate, m.channel,
    s.size_json, s.quality, s.width, s.height, f.code AS error_code, f.message AS error_message,
    m.price * p.n AS reserved,
    CASE WHEN f.idx IS NULL THEN CASE WHEN p.r_short < 0.02 AND p.n > 1 THEN p.n - 1 ELSE p.n END
      ELSE 0 END AS delivered,
    CASE WHEN f.idx = 3 THEN NULL ELSE p.created_ms + 50 + floor(p.r_start * 1500)::bigint END AS started_ms,
    CASE WHEN f.idx = 3 THEN p.created_ms + 1000 + floor(p.r_dur * 20000)::bigint
      ELSE p.created_ms + 50 + floor(p.r_start * 1500)::bigint + 5000 + floor(p.r_dur * 55000)::bigint
      END AS finished_ms,
    f.idx = 3 AS cancelled
  FROM p JOIN fill_accounts a ON a.idx = p.acct_idx
    JOIN ${MODELS} ON m.idx = p.model_idx
    JOIN ${SIZES} ON s.idx = p.size_idx
    LEFT JOIN ${FAILURES} ON f.idx = p.fail_idx)
SELECT t.*, t.price * t.delivered AS charge,
  CASE WHEN t.r_cb < 0.15 THEN t.callback END AS callback_url
FROM t`;

const INSERT_TASKS = `
INSERT INTO tasks (id, account_id, api_key_id, model, status, progress, request, n, user_group,
    price_micros, multiplier_ppm, credits_reserved_micros, credits_used_micros, estimated_s, results,
    error_code, error_message, callback_url, cancel_requested, attempts, run_after_ms, created_s,
    created_ms, started_ms, updated_ms, finished_ms, channel_id, cancellable)
SELECT c.id, c.account_id, c.key_id, c.model, CASE WHEN c.error_code IS NULL THEN 'completed' ELSE 'failed' END,
  CASE WHEN c.error_code IS NULL THEN 100 ELSE 0 END,
  '{"model":"' || c.model || '","prompt":' || to_json((
      SELECT string_agg(($1::text[])[1 + floor(random() * ${WORDS.length})::int], ' ')
      FROM generate_series(1, 6 + floor(c.r_words * c.r_short * 60)::int) AS w(k)
      WHERE c.i IS NOT NULL))::text
    || ',"n":' || c.n || ',"size":' || c.size_json || ',"quality":"' || c.quality
    || '","promptPriority":"standard","imageUrls":'
    || CASE WHEN c.r_refs < 0.1 THEN '["https://cdn.example.com/uploads/' || substr(md5(random()::text), 1, 24) || '.jpg"]' ELSE '[]' END
    || ',"callbackUrl":' || COALESCE(to_json(c.callback_url)::text, 'null') || ',"modelParams":{}}',
  c.n, 'default', c.price, 1000000, c.reserved, c.charge, c.estimate,
  CASE WHEN c.error_code IS NULL THEN '[' || (
      SELECT string_agg('{"key":"images/' || c.id || '/' || k || '.jpg","contentType":"image/jpeg","bytes":'
        || (90000 + floor(random() * 200000)::int) || ',"width":' || c.width || ',"height":' || c.height || '}', ',')
      FROM generate_series(0, c.delivered - 1) AS d(k)) || ']' END,
  c.error_code, c.error_message, c.callback_url, 0, CASE WHEN c.cancelled THEN 0 ELSE 1 END,
  c.created_ms, c.created_ms / 1000, c.created_ms, c.started_ms, c.finished_ms, c.finished_ms,
  CASE WHEN c.cancelled THEN NULL ELSE c.channel END, 1
FROM fill_chunk c ORDER BY c.i`;

/**
 * The chunk's tasks with, in the same statement, what the row and statement triggers on
 * `tasks` would have added for them (schema.ts, task-attempts.ts), while those are off:
 * - task_counts_insert: one per (account, model, status), added in key order;
 * - model_queue_moves: one per pending task of its model (a filled task never is);
 * - task_minutes_submitted: one `submitted` per task in its created minute, on this
 *   connection's row (writer = pg_backend_pid(), as the trigger writes).
 * The other triggers on tasks fire on UPDATE or DELETE only; the fill never does either.
 */
const INSERT_TASKS_DERIVED = `
WITH ins AS (${INSERT_TASKS} RETURNING account_id, model, status, created_ms),
counts AS (
  INSERT INTO task_counts AS c (account_id, model, status, n)
    SELECT account_id, model, status, count(*) FROM ins
    GROUP BY account_id, model, status ORDER BY account_id, model, status
    ON CONFLICT (account_id, model, status) DO UPDATE SET n = c.n + excluded.n),
queue AS (
  INSERT INTO model_queue AS q (model, pending)
    SELECT model, count(*) FROM ins WHERE status = 'pending' GROUP BY model ORDER BY model
    ON CONFLICT (model) DO UPDATE SET pending = q.pending + excluded.pending),
minutes AS (
  INSERT INTO task_minutes AS m (minute_s, writer, submitted)
    SELECT created_ms / 60000 * 60, pg_backend_pid(), count(*) FROM ins
    GROUP BY created_ms / 60000 * 60 ORDER BY 1
    ON CONFLICT (minute_s, writer) DO UPDATE SET submitted = m.submitted + excluded.submitted)
SELECT count(*) AS n FROM ins`;

/** The triggers INSERT_TASKS_DERIVED stands in for; any other one stops the fill. */
const KNOWN_TRIGGERS = [
  "tasks.task_counts_insert",
  "tasks.task_counts_update",
  "tasks.task_counts_delete",
  "tasks.model_queue_moves",
  "tasks.task_minutes_submitted",
  "tasks.task_minutes_finished",
];
/** Every table a chunk writes. */
const FILLED_TABLES = [
  "tasks",
  "ledger_entries",
  "webhook_outbox",
  "webhook_attempts",
  "idempotency_keys",
  "accounts",
  "api_keys",
];

// The reserve at submission, the capture and release at the finish, with the running
// balance of the task's account (held 0 between tasks: every filled task is finished).
const INSERT_LEDGER = `
INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros,
    balance_after_micros, held_after_micros, created_ms)
SELECT c.account_id, c.key_id, c.id, k.kind,
  CASE k.kind WHEN 'reserve' THEN c.reserved WHEN 'capture' THEN c.charge ELSE c.reserved - c.charge END,
  CASE k.kind WHEN 'reserve' THEN c.after + c.charge ELSE c.after END,
  CASE k.kind WHEN 'reserve' THEN c.held0 + c.reserved ELSE c.held0 END,
  CASE k.kind WHEN 'reserve' THEN c.created_ms ELSE c.finished_ms END
FROM (SELECT c.*, a.held_micros AS held0,
        a.balance_micros - sum(c.charge) OVER (PARTITION BY c.account_id ORDER BY c.i) AS after
      FROM fill_chunk c JOIN accounts a ON a.id = c.account_id) AS c
  CROSS JOIN (VALUES (1, 'reserve'), (2, 'capture'), (3, 'release')) AS k(n, kind)
ORDER BY c.i, k.n`;

const INSERT_CALLBACKS = [
  `CREATE TEMP TABLE fill_hooks AS
   SELECT c.id AS task_id, c.account_id, c.callback_url, c.finished_ms,
     'msg_' || md5(c.id || random()::text) AS msg, 40 + floor(random() * 400)::bigint AS latency
   FROM fill_chunk c WHERE c.callback_url IS NOT NULL`,
  `INSERT INTO webhook_outbox (id, task_id, account_id, url, status, attempts, next_attempt_ms,
     created_ms, last_status_code, delivered_ms, updated_ms)
   SELECT msg, task_id, account_id, callback_url, 'delivered', 1, finished_ms, finished_ms, 200,
     finished_ms + latency, finished_ms + latency FROM fill_hooks`,
  `INSERT INTO webhook_attempts (outbox_id, attempt, status_code, latency_ms, created_ms)
   SELECT msg, 1, 200, latency, finished_ms FROM fill_hooks`,
  `DROP TABLE fill_hooks`,
  `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, task_id, created_ms)
   SELECT account_id, 'order-' || substr(md5(random()::text), 1, 16),
     md5(random()::text) || md5(random()::text), id, created_ms
   FROM fill_chunk WHERE r_idem < 0.1`,
  // The accounts' and keys' totals, as the finisher would have left them.
  `UPDATE accounts a SET balance_micros = a.balance_micros - s.charged, used_micros = a.used_micros + s.charged
   FROM (SELECT account_id, sum(charge) AS charged FROM fill_chunk GROUP BY account_id) AS s
   WHERE a.id = s.account_id`,
  `UPDATE api_keys k SET used_micros = k.used_micros + s.charged
   FROM (SELECT key_id, sum(charge) AS charged FROM fill_chunk GROUP BY key_id) AS s
   WHERE k.id = s.key_id`,
];

export class PgScaleFill {
  /**
   * `url`: the database; `schema`: one a gateway migrated and bootstrapped (its one
   * account becomes the big one), with no gateway running on it.
   */
  static async create(url, schema, opts) {
    const fill = new PgScaleFill(url, schema, opts);
    await fill.open();
    if (fill.seed !== null) await fill.q(`SELECT setseed($1)`, [fill.seed]);
    await fill.setUpAccounts(opts.accounts ?? 1000);
    await fill.refresh();
    return fill;
  }

  constructor(
    url,
    schema,
    {
      bigShare = 0.8,
      maxTasks,
      spanMs,
      endMs,
      sample = 10_000,
      fast = true,
      seed = null,
      chunk = CHUNK,
    },
  ) {
    this.fast = fast;
    this.chunk = chunk;
    this.seed = seed; // a fixed random sequence per chunk (the check's two fills alike)
    this.url = url;
    this.schema = schema;
    this.bigShare = bigShare;
    this.stepMs = spanMs / maxTasks;
    this.startMs = endMs - spanMs;
    this.sampleSize = sample;
    this.lastFilledMs = 0;
    this.sample = [];
    this.newest = [];
  }

  /** A session of the fill's own: no waiting on the WAL's flush (a throw-away store). */
  async open() {
    this.db = new pg.Client({ connectionString: this.url });
    await this.db.connect();
    await this.db.query(`SET search_path TO ${this.schema}`);
    await this.db.query(`SET synchronous_commit = off`);
    await this.db.query(`SET work_mem = '256MB'`);
    // Index builds sort in memory; a 10-million-task index is a few hundred MB.
    await this.db.query(`SET maintenance_work_mem = '1GB'`);
    // JIT compiles each chunk's plan again (~0.7 s a chunk) for no gain on a bulk insert.
    await this.db.query(`SET jit = off`);
    if (this.big) await this.accountsTable();
  }

  async q(sql, params = []) {
    return (await this.db.query(sql, params)).rows;
  }

  /** The bootstrapped account becomes the big one; `n` more accounts with a key each. */
  async setUpAccounts(n) {
    const [big] = await this.q(`SELECT a.id FROM accounts a ORDER BY a.created_ms, a.id LIMIT 1`);
    if (!big) throw new Error("the gateway's bootstrap account is missing");
    this.big = { id: big.id };
    const nowMs = Math.floor(this.startMs - 86_400_000);
    const have = Number((await this.q(`SELECT COUNT(*) AS n FROM accounts`))[0].n) - 1;
    if (have < n) {
      await this.q(
        `INSERT INTO accounts (id, name, group_name, balance_micros, webhook_secret, created_ms)
         SELECT 'acct_' || substr(md5(random()::text), 1, 16), 'customer-' || lpad(i::text, 4, '0'),
           'default', $1, 'whsec_' || md5(random()::text), $2
         FROM generate_series($3::int, $4::int) AS i`,
        [TOPUP_MICROS, nowMs, have + 1, n],
      );
      await this.q(
        `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_ms)
         SELECT 'key_' || substr(md5(random()::text), 1, 16), a.id, 'production',
           md5(random()::text) || md5(random()::text), 'sk-' || substr(md5(random()::text), 1, 7), $2
         FROM accounts a WHERE a.id <> $1 AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.account_id = a.id)`,
        [this.big.id, nowMs],
      );
      await this.q(
        `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros,
           held_after_micros, reason, created_ms)
         SELECT a.id, 'topup', $2, $2, 0, 'invoice paid', $3 FROM accounts a
         WHERE a.id <> $1 AND NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.account_id = a.id)`,
        [this.big.id, TOPUP_MICROS, nowMs],
      );
    }
    await this.accountsTable();
  }

  /**
   * Drops the non-unique indexes of the tables a chunk writes, after making sure every
   * trigger on them is one INSERT_TASKS_DERIVED stands in for; resolves to the statements
   * that build the indexes again, as they were.
   */
  async dropIndexes() {
    const triggers = await this.q(
      `SELECT c.relname || '.' || t.tgname AS name FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = ANY($2) AND NOT t.tgisinternal`,
      [this.schema, FILLED_TABLES],
    );
    const unknown = triggers.map((t) => t.name).filter((n) => !KNOWN_TRIGGERS.includes(n));
    if (unknown.length > 0)
      throw new Error(
        `bench/scale-fill-pg.js does not know the trigger(s) ${unknown.join(", ")}: ` +
          "write what they keep in INSERT_TASKS_DERIVED (or the chunk's other statements)",
      );
    const indexes = await this.q(
      `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = ANY($2) AND NOT i.indisunique
       ORDER BY c.relname, ic.relname`,
      [this.schema, FILLED_TABLES],
    );
    for (const { name } of indexes) await this.q(`DROP INDEX ${name}`);
    return indexes.map((i) => i.def);
  }

  /** The accounts by the fill's index: 0 the big one, then the others, oldest first. */
  async accountsTable() {
    await this.q(`DROP TABLE IF EXISTS fill_accounts`);
    await this.q(
      `CREATE TEMP TABLE fill_accounts AS
       SELECT CASE WHEN a.id = $1 THEN 0
           ELSE row_number() OVER (PARTITION BY a.id = $1 ORDER BY a.created_ms, a.id) END AS idx,
         a.id, k.id AS key_id,
         'https://api.' || substr(a.id, 6, 8) || '.example.com/hooks/darkroom' AS callback
       FROM accounts a JOIN LATERAL (
         SELECT id FROM api_keys k WHERE k.account_id = a.id ORDER BY k.created_ms, k.id LIMIT 1) k ON true`,
      [this.big.id],
    );
    this.others = Number((await this.q(`SELECT COUNT(*) AS n FROM fill_accounts`))[0].n) - 1;
  }

  /** The counts and the fixture's ids, as the store holds them now. */
  async refresh() {
    const [t] = await this.q(
      `SELECT COALESCE(SUM(n), 0) AS all, COALESCE(SUM(n) FILTER (WHERE account_id = $1), 0) AS big
       FROM task_counts`,
      [this.big.id],
    );
    this.tasks = Number(t.all);
    this.bigTasks = Number(t.big);
    this.newest = (
      await this.q(
        `SELECT id FROM tasks WHERE account_id = $1 ORDER BY created_ms DESC, id DESC LIMIT $2`,
        [this.big.id, this.sampleSize],
      )
    ).map((r) => r.id);
    // A uniform sample of the big account's tasks: every page read once, no sort of millions.
    const pct = Math.min(100, (100 * 2 * this.sampleSize) / Math.max(1, this.tasks));
    const sampled = (
      await this.q(`SELECT id FROM tasks TABLESAMPLE BERNOULLI(${pct}) WHERE account_id = $1`, [
        this.big.id,
      ])
    ).map((r) => r.id);
    for (let i = sampled.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [sampled[i], sampled[j]] = [sampled[j], sampled[i]];
    }
    this.sample = sampled.slice(0, this.sampleSize);
  }

  /** Grows the store to `target` tasks; resolves to the seconds it took. */
  async grow(target, onProgress = () => {}) {
    const t0 = process.hrtime.bigint();
    const indexes = this.fast && this.tasks < target ? await this.dropIndexes() : [];
    while (this.tasks < target) {
      const to = Math.min(target, this.tasks + this.chunk);
      await this.q("BEGIN");
      // No row triggers and no per-row foreign-key checks (both are triggers) for this
      // transaction: INSERT_TASKS_DERIVED writes what the triggers would have.
      if (this.fast) await this.q(`SET LOCAL session_replication_role = replica`);
      if (this.seed !== null) await this.q(`SELECT setseed($1)`, [this.seed + this.tasks / 1e9]);
      await this.q(CHUNK_SQL, [
        this.tasks,
        to,
        this.startMs,
        this.stepMs,
        this.bigShare,
        this.others,
      ]);
      await this.q(this.fast ? INSERT_TASKS_DERIVED : INSERT_TASKS, [WORDS]);
      await this.q(INSERT_LEDGER);
      for (const sql of INSERT_CALLBACKS) await this.q(sql);
      const [m] = await this.q(`SELECT MAX(created_ms) AS ms FROM fill_chunk`);
      this.lastFilledMs = Math.max(this.lastFilledMs, Number(m.ms));
      await this.q(`DROP TABLE fill_chunk`);
      await this.q("COMMIT");
      this.tasks = to;
      onProgress(this.tasks);
    }
    for (const def of indexes) await this.q(def);
    await this.refresh();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }

  /**
   * Removes the tasks a measurement submitted (pending: the runner is off), with their
   * reserve entries and holds, so each size is measured on exactly its filled tasks.
   */
  async removeSubmitted() {
    await this.q("BEGIN");
    const rows = await this.q(
      `SELECT id, api_key_id, credits_reserved_micros AS reserved, status FROM tasks
       WHERE account_id = $1 AND created_ms > $2 FOR UPDATE`,
      [this.big.id, this.lastFilledMs],
    );
    if (rows.some((t) => t.status !== "pending")) {
      await this.q("ROLLBACK");
      throw new Error("a submitted task was claimed: the gateway's runner must be off");
    }
    const ids = rows.map((t) => t.id);
    if (ids.length > 0) {
      await this.q(`DELETE FROM ledger_entries WHERE task_id = ANY($1::text[])`, [ids]);
      await this.q(`DELETE FROM idempotency_keys WHERE task_id = ANY($1::text[])`, [ids]);
      await this.q(`DELETE FROM tasks WHERE id = ANY($1::text[])`, [ids]);
      await this.q(
        `UPDATE api_keys k SET held_micros = k.held_micros - s.held, active_tasks = k.active_tasks - s.n
         FROM (SELECT api_key_id, SUM(credits_reserved_micros) AS held, COUNT(*) AS n
               FROM unnest($1::text[], $2::bigint[]) AS t(api_key_id, credits_reserved_micros)
               GROUP BY api_key_id) AS s WHERE k.id = s.api_key_id`,
        [rows.map((t) => t.api_key_id), rows.map((t) => t.reserved)],
      );
      await this.q(`UPDATE accounts SET held_micros = held_micros - $2 WHERE id = $1`, [
        this.big.id,
        rows.reduce((a, t) => a + Number(t.reserved), 0),
      ]);
    }
    await this.q("COMMIT");
    await this.refresh();
    return ids.length;
  }

  /** The big account's task `fraction` into its history, newest first: { createdMs, id }. */
  async positionAt(fraction) {
    const [r] = await this.q(
      `SELECT created_ms, id FROM tasks WHERE account_id = $1
       ORDER BY created_ms DESC, id DESC OFFSET $2 LIMIT 1`,
      [this.big.id, Math.floor(this.bigTasks * fraction)],
    );
    return { createdMs: Number(r.created_ms), id: r.id };
  }

  /** Bytes per table and index of the schema, largest first. */
  async sizes() {
    return (
      await this.q(
        `SELECT c.relname AS name, pg_relation_size(c.oid)::float8 AS bytes FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 't') ORDER BY bytes DESC`,
        [this.schema],
      )
    ).map((r) => ({ name: r.name === "tasks_pkey" ? "tasks" : r.name, bytes: Number(r.bytes) }));
  }

  /** The schema's bytes on disk (tables, indexes, TOAST). */
  async bytes() {
    const [r] = await this.q(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::float8 AS bytes FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [this.schema],
    );
    return Number(r.bytes);
  }

  /**
   * A store at rest: statistics and the visibility map up to date (VACUUM ANALYZE, as
   * autovacuum would leave it) and the fill's dirty pages written (CHECKPOINT), not
   * flushed behind the measurements. Resolves to the seconds it took.
   */
  async close() {
    const t0 = process.hrtime.bigint();
    // This schema's tables only: the database is shared.
    await this.q(
      `VACUUM ANALYZE tasks, task_counts, model_queue, ledger_entries, accounts, api_keys, webhook_outbox, webhook_attempts, idempotency_keys`,
    );
    await this.q(`CHECKPOINT`).catch(() => {}); // needs superuser (or pg_checkpoint): best effort
    await this.db.end();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }
}
