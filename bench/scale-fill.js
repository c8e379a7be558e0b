// The scale benchmark's bulk fill (not a test): grows a gateway's SQLite file to N tasks
// with the rows a busy gateway's history leaves, through SQL, so whatever the schema does
// on an insert (indexes, foreign keys, triggers) happens as it would for real.
//
// A filled task is a finished one (a pending or processing task would be claimed by a
// runner): ~96 % completed with their results, the rest failed (an upstream's refusal,
// an error, a timeout, a cancel while pending). Each leaves the ledger's reserve,
// capture and release entries with running balances; 15 % had a callback (its outbox
// row, delivered, and the attempt), 10 % an idempotency key. Tasks are spread over
// `accounts` accounts with one key each, Zipf-like, while the account the gateway
// bootstrapped (the benchmark's key) holds `bigShare` of them. Creation times advance
// with the task's index over `spanMs`, so growing the store appends in time order, as
// a real history does; ids are the gateway's own (newTaskId). Balances stay consistent
// with the ledger: held 0, used = the sum of captures, balance = top-ups - used.
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { newTaskId } from "../dist/core/ids.js";

const MODELS = [
  // [model, price in micro-credits, default estimate (s), share, channel]
  ["doubao-seedream-4.0", 1_800_000, 45, 0.6, "ark-main"],
  ["doubao-seedream-4.5", 2_500_000, 45, 0.2, "ark-main"],
  ["doubao-seedream-5.0-lite", 2_000_000, 45, 0.1, "ark-main"],
  ["gpt-image-1", 4_000_000, 60, 0.1, "openai-main"],
];
const SIZES = [
  ['{"kind":"auto","width":2048,"height":2048}', "2K", 2048, 2048],
  ['{"kind":"ratio","ratio":"16:9","quality":"2K","width":2848,"height":1600}', "2K", 2848, 1600],
  ['{"kind":"ratio","ratio":"9:16","quality":"2K","width":1600,"height":2848}', "2K", 1600, 2848],
  ['{"kind":"ratio","ratio":"1:1","quality":"1K","width":1024,"height":1024}', "1K", 1024, 1024],
  ['{"kind":"ratio","ratio":"4:3","quality":"2K","width":2304,"height":1728}', "2K", 2304, 1728],
];
const FAILURES = [
  ["content_policy_violation", "The request was rejected by the upstream's content policy."],
  ["service_error", "The upstream service returned an error (HTTP 500)."],
  ["timeout", "The upstream did not answer within the channel's timeout."],
  ["request_cancelled", "The task was cancelled."],
];
const WORDS = (
  "a an the serene misty golden ancient futuristic quiet crowded lonely neon rainy snowy " +
  "lake mountain city street forest harbour lighthouse castle market garden desert river " +
  "portrait of young old woman man child cat dog fox dragon robot astronaut sailor " +
  "at sunset dawn night noon in winter spring autumn summer under stars with soft light " +
  "dramatic shadows oil painting watercolor photograph cinematic wide angle close-up " +
  "highly detailed 35mm film grain studio lighting bokeh isometric illustration poster"
).split(" ");

/** A small seeded PRNG (mulberry32): the same mix of rows on every run. */
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MARK_EVERY = 1000;
const TOPUP_MICROS = 10_000_000 * 1_000_000; // 10 million credits per small account

export class ScaleFill {
  /**
   * `file`: a database the gateway created and bootstrapped (its one account becomes
   * the big one); the gateway must not be running. `endMs`: when the largest size's
   * history ends; `maxTasks` of them span `spanMs` before it.
   */
  constructor(file, { accounts = 1000, bigShare = 0.8, maxTasks, spanMs, endMs, sample = 10_000 }) {
    this.file = file;
    this.open();
    this.rand = prng(13);
    this.bigShare = bigShare;
    this.stepMs = spanMs / maxTasks;
    this.startMs = endMs - spanMs;
    this.sampleSize = sample;
    this.sample = []; // a uniform sample of the big account's filled task ids (reservoir)
    this.marks = []; // every MARK_EVERY-th task of the big account, oldest first
    this.newest = []; // the big account's newest `sample` task ids (a ring)
    this.setUpAccounts(accounts);
    this.tasks = this.count("tasks");
    this.bigTasks = this.db
      .prepare(`SELECT COUNT(*) AS n FROM tasks WHERE account_id = ?`)
      .get(this.big.id).n;
    this.lastFilledMs = 0;
  }

  /**
   * This connection's settings are for the fill only (a crash would lose a throw-away
   * file): the rollback journal in memory, no fsync, the file to itself. The gateway
   * opens it in WAL mode again (close()), with its own settings.
   */
  open() {
    this.db = new Database(this.file);
    this.db.pragma("journal_mode = DELETE");
    this.db.pragma("journal_mode = MEMORY");
    this.db.pragma("synchronous = OFF");
    this.db.pragma("locking_mode = EXCLUSIVE");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("temp_store = MEMORY");
    this.db.pragma("cache_size = -1048576"); // 1 GiB: the indexes' hot pages stay resident
    this.prepare();
  }

  count(table) {
    return this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get().n;
  }

  prepare() {
    const db = this.db;
    this.sql = {
      task: db.prepare(
        `INSERT INTO tasks (id, account_id, api_key_id, model, status, progress, request, n, user_group,
           price_micros, multiplier_ppm, credits_reserved_micros, credits_used_micros, estimated_s, results,
           error_code, error_message, callback_url, cancel_requested, attempts, run_after_ms, created_s,
           created_ms, started_ms, updated_ms, finished_ms, channel_id, cancellable)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'default', ?, 1000000, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
      ),
      ledger: db.prepare(
        `INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros, balance_after_micros,
           held_after_micros, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      outbox: db.prepare(
        `INSERT INTO webhook_outbox (id, task_id, account_id, url, status, attempts, next_attempt_ms, created_ms,
           last_status_code, delivered_ms, updated_ms) VALUES (?, ?, ?, ?, 'delivered', 1, ?, ?, 200, ?, ?)`,
      ),
      attempt: db.prepare(
        `INSERT INTO webhook_attempts (outbox_id, attempt, status_code, latency_ms, created_ms)
         VALUES (?, 1, 200, ?, ?)`,
      ),
      idem: db.prepare(
        `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, task_id, created_ms) VALUES (?, ?, ?, ?, ?)`,
      ),
    };
  }

  /** The bootstrapped account becomes the big one; `n` more accounts with a key each. */
  setUpAccounts(n) {
    const db = this.db;
    const [big, ...others] = db
      .prepare(
        `SELECT a.id, k.id AS key_id, a.balance_micros, a.held_micros FROM accounts a
         JOIN api_keys k ON k.account_id = a.id ORDER BY a.created_ms, a.id`,
      )
      .all();
    if (!big) throw new Error("the gateway's bootstrap account is missing");
    const nowMs = this.startMs - 86_400_000;
    const addAccount = db.prepare(
      `INSERT INTO accounts (id, name, group_name, balance_micros, webhook_secret, created_ms)
       VALUES (?, ?, 'default', ?, ?, ?)`,
    );
    const addKey = db.prepare(
      `INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_ms) VALUES (?, ?, 'production', ?, ?, ?)`,
    );
    const topup = db.prepare(
      `INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, held_after_micros, reason, created_ms)
       VALUES (?, 'topup', ?, ?, 0, 'invoice paid', ?)`,
    );
    db.transaction(() => {
      for (let i = others.length; i < n; i++) {
        const id = `acct_${randomBytes(8).toString("hex")}`;
        const secret = `sk-${randomBytes(30).toString("base64url")}`;
        addAccount.run(
          id,
          `customer-${String(i + 1).padStart(4, "0")}`,
          TOPUP_MICROS,
          `whsec_${randomBytes(24).toString("base64")}`,
          nowMs,
        );
        addKey.run(
          `key_${randomBytes(8).toString("hex")}`,
          id,
          randomBytes(32).toString("hex"),
          secret.slice(0, 10),
          nowMs,
        );
        topup.run(id, TOPUP_MICROS, TOPUP_MICROS, nowMs);
      }
    })();
    const all = db
      .prepare(
        `SELECT a.id, k.id AS key_id, a.balance_micros, a.held_micros FROM accounts a
         JOIN api_keys k ON k.account_id = a.id WHERE a.id <> ? ORDER BY a.created_ms, a.id`,
      )
      .all(big.id);
    const acct = (r) => ({
      id: r.id,
      keyId: r.key_id,
      balance: Number(r.balance_micros),
      held: Number(r.held_micros),
      charged: 0,
      callback: `https://api.${r.id.slice(5, 13)}.example.com/hooks/darkroom`,
    });
    this.big = acct(big);
    this.others = all.map(acct);
    // Zipf (s = 1): a few busy customers, a long tail of quiet ones.
    const weights = this.others.map((_, i) => 1 / (i + 1));
    const total = weights.reduce((a, b) => a + b, 0);
    let run = 0;
    this.cdf = weights.map((w) => (run += w / total));
  }

  pickAccount() {
    if (this.rand() < this.bigShare) return this.big;
    const u = this.rand();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return this.others[lo];
  }

  /** `chars` hex digits from the seeded PRNG (cheaper than the CSPRNG, for filler only). */
  hex(chars) {
    let s = "";
    while (s.length < chars) s += ((this.rand() * 2 ** 32) >>> 0).toString(16).padStart(8, "0");
    return s.slice(0, chars);
  }

  prompt() {
    const words = 6 + Math.floor(this.rand() * this.rand() * 60);
    let s = "";
    for (let i = 0; i < words; i++) s += (i ? " " : "") + WORDS[(this.rand() * WORDS.length) | 0];
    return s;
  }

  /** One finished task and the rows it leaves, created at `createdMs`. */
  insertTask(createdMs) {
    const r = this.rand;
    const a = this.pickAccount();
    const m = r();
    const [model, price, estimate, , channel] =
      m < 0.6 ? MODELS[0] : m < 0.8 ? MODELS[1] : m < 0.9 ? MODELS[2] : MODELS[3];
    const u = r();
    const n = u < 0.7 ? 1 : u < 0.9 ? 2 : 4;
    const [sizeJson, quality, width, height] = SIZES[(r() * SIZES.length) | 0];
    const callback = r() < 0.15 ? a.callback : null;
    const refs = r() < 0.1 ? `["https://cdn.example.com/uploads/${this.hex(24)}.jpg"]` : "[]";
    const request =
      `{"model":"${model}","prompt":${JSON.stringify(this.prompt())},"n":${n},"size":${sizeJson},` +
      `"quality":"${quality}","promptPriority":"standard","imageUrls":${refs},` +
      `"callbackUrl":${callback ? JSON.stringify(callback) : "null"},"modelParams":{}}`;
    const id = newTaskId(createdMs);
    const reserved = price * n;
    const f = r();
    const failure = f < 0.04 ? FAILURES[Math.min(3, (f / 0.01) | 0)] : null;
    const cancelled = failure !== null && failure[0] === "request_cancelled";
    const startedMs = cancelled ? null : createdMs + 50 + Math.floor(r() * 1500);
    const finishedMs = cancelled
      ? createdMs + 1000 + Math.floor(r() * 20_000)
      : startedMs + 5000 + Math.floor(r() * 55_000);
    let charge = 0;
    let results = null;
    if (!failure) {
      const delivered = r() < 0.02 && n > 1 ? n - 1 : n; // an upstream that made fewer
      charge = price * delivered;
      const images = [];
      for (let i = 0; i < delivered; i++) {
        const bytes = 90_000 + Math.floor(r() * 200_000);
        images.push(
          `{"key":"images/${id}/${i}.jpg","contentType":"image/jpeg","bytes":${bytes},"width":${width},"height":${height}}`,
        );
      }
      results = `[${images.join(",")}]`;
    }
    this.sql.task.run(
      id,
      a.id,
      a.keyId,
      model,
      failure ? "failed" : "completed",
      failure ? 0 : 100,
      request,
      n,
      price,
      reserved,
      charge,
      estimate,
      results,
      failure ? failure[0] : null,
      failure ? failure[1] : null,
      callback,
      cancelled ? 0 : 1,
      createdMs,
      Math.floor(createdMs / 1000),
      createdMs,
      startedMs,
      finishedMs,
      finishedMs,
      cancelled ? null : channel,
    );
    // The reserve at submission, the capture and release at the finish (finish.ts).
    const ledger = this.sql.ledger;
    ledger.run(a.id, a.keyId, id, "reserve", reserved, a.balance, a.held + reserved, createdMs);
    a.balance -= charge;
    a.charged += charge;
    ledger.run(a.id, a.keyId, id, "capture", charge, a.balance, a.held, finishedMs);
    ledger.run(a.id, a.keyId, id, "release", reserved - charge, a.balance, a.held, finishedMs);
    if (callback) {
      const h = this.hex(32);
      const msg = `msg_${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
      const latency = 40 + Math.floor(r() * 400);
      this.sql.outbox.run(
        msg,
        id,
        a.id,
        callback,
        finishedMs,
        finishedMs,
        finishedMs + latency,
        finishedMs + latency,
      );
      this.sql.attempt.run(msg, latency, finishedMs);
    }
    if (r() < 0.1) {
      this.sql.idem.run(a.id, `order-${this.hex(16)}`, this.hex(64), id, createdMs);
    }
    if (a === this.big) {
      if (this.bigTasks % MARK_EVERY === 0) this.marks.push({ createdMs, id });
      this.newest[this.bigTasks % this.sampleSize] = id;
      // Reservoir sampling: every big-account task so far is equally likely to be polled.
      const seen = this.bigTasks++;
      if (this.sample.length < this.sampleSize) this.sample.push(id);
      else {
        const j = Math.floor(r() * (seen + 1));
        if (j < this.sampleSize) this.sample[j] = id;
      }
    }
  }

  /**
   * Removes the tasks the gateway created after the fill (a measurement's submissions,
   * still pending: the runner is off), with their reserve entries and holds, so each
   * size is measured on exactly its filled tasks and the fill keeps appending in time
   * order. Returns how many it removed.
   */
  removeSubmitted() {
    const db = this.db;
    const since = this.lastFilledMs;
    const rows = db
      .prepare(
        `SELECT id, account_id, api_key_id, credits_reserved_micros AS reserved, status FROM tasks
         WHERE account_id = ? AND created_ms > ?`,
      )
      .all(this.big.id, since);
    if (rows.length === 0) return 0;
    if (rows.some((t) => t.status !== "pending"))
      throw new Error("a submitted task was claimed: the gateway's runner must be off");
    db.transaction(() => {
      const delLedger = db.prepare(`DELETE FROM ledger_entries WHERE task_id = ?`);
      const delTask = db.prepare(`DELETE FROM tasks WHERE id = ?`);
      const key = db.prepare(
        `UPDATE api_keys SET held_micros = held_micros - ?, active_tasks = active_tasks - 1 WHERE id = ?`,
      );
      const acct = db.prepare(`UPDATE accounts SET held_micros = held_micros - ? WHERE id = ?`);
      for (const t of rows) {
        delLedger.run(t.id);
        delTask.run(t.id);
        key.run(t.reserved, t.api_key_id);
        acct.run(t.reserved, t.account_id);
      }
    })();
    return rows.length;
  }

  /** Grows the store to `target` tasks; returns the seconds it took. */
  grow(target, onProgress = () => {}) {
    const t0 = process.hrtime.bigint();
    const per = 50_000;
    for (const a of [this.big, ...this.others]) {
      const row = this.db
        .prepare(`SELECT balance_micros, held_micros FROM accounts WHERE id = ?`)
        .get(a.id);
      a.balance = Number(row.balance_micros);
      a.held = Number(row.held_micros);
      a.charged = 0;
    }
    const batch = this.db.transaction((from, to) => {
      for (let i = from; i < to; i++) {
        const createdMs = Math.floor(this.startMs + (i + this.rand()) * this.stepMs);
        this.insertTask(createdMs);
        this.lastFilledMs = Math.max(this.lastFilledMs, createdMs);
      }
    });
    while (this.tasks < target) {
      const to = Math.min(target, this.tasks + per);
      batch(this.tasks, to);
      this.tasks = to;
      onProgress(this.tasks);
    }
    // The accounts' and keys' totals, as the finisher would have left them.
    const acct = this.db.prepare(
      `UPDATE accounts SET balance_micros = balance_micros - ?, used_micros = used_micros + ? WHERE id = ?`,
    );
    const key = this.db.prepare(`UPDATE api_keys SET used_micros = used_micros + ? WHERE id = ?`);
    this.db.transaction(() => {
      for (const a of [this.big, ...this.others]) {
        if (a.charged === 0) continue;
        acct.run(a.charged, a.charged, a.id);
        key.run(a.charged, a.keyId);
      }
    })();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }

  /**
   * The big account's task about `fraction` into its history, newest first (within
   * MARK_EVERY tasks): creation times grow with the fill's index, so the fill's order
   * is the listing's, and no query has to walk millions of index entries to find it.
   */
  positionAt(fraction) {
    const fromOldest = this.bigTasks - 1 - Math.floor(this.bigTasks * fraction);
    return this.marks[Math.max(0, Math.round(fromOldest / MARK_EVERY))] ?? this.marks.at(-1);
  }

  /** Bytes per object (table or index), largest first; null if dbstat is not compiled in. */
  sizes() {
    try {
      return this.db
        .prepare(`SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC`)
        .all();
    } catch {
      return null;
    }
  }

  /**
   * Back to WAL mode (as the gateway keeps it), closed, and written to disk: a store at
   * rest, not gigabytes of dirty pages the kernel flushes during the measurements (and
   * behind the gateway's own fsyncs). Returns the seconds the flush took.
   */
  close() {
    this.db.pragma("journal_mode = WAL");
    this.db.close();
    const t0 = process.hrtime.bigint();
    const fd = openSync(this.file, "r+");
    fsyncSync(fd);
    closeSync(fd);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }
}
