/**
 * The chaos run's verdict, read from the database, the callback receiver, the clients'
 * own records and the image folder once every process has stopped. Each rule that does
 * not hold adds a line to `violations`; a run passes with none.
 *
 * - Every task is terminal, and its ledger holds exactly one reserve, one capture and
 *   one release that add up (capture + release = reserve, capture = credits used).
 * - Every account balances: balance = top-ups and adjustments − captures, nothing held,
 *   used = captures; and the gateway's own audit (GET /admin/v1/ledger/check) agrees.
 * - Every submission the clients made is in the database at most once, exactly once when
 *   it was answered (an Idempotency-Key retry answers the same task), and no task exists
 *   that no client submitted.
 * - Every task with a callback_url has its delivery delivered (the receiver acknowledged
 *   that webhook-id, carrying the task's final status) or failed; every request the
 *   receiver saw for a task carried the same webhook-id.
 * - Files: every file under the image folder is an image of a completed task that lists
 *   it, and every image a completed task lists exists with its size.
 */
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import type pg from "pg";
import type { CallbackReceiver } from "./receiver.js";

export interface Submission {
  /** Unique per submission; in the prompt as `chaos#<tag>`. */
  tag: string;
  accountId: string;
  idempotencyKey: string | null;
  /** Sent with the crash-after-commit marker (the API dies after committing it). */
  crash: boolean;
  withCallback: boolean;
  /** The task id the gateway answered with; null when no answer came. */
  taskId: string | null;
  /** The answer said `idempotency-replayed: true`. */
  replayed: boolean;
  /** A try reached an API process and got no answer (it died, or the connection broke). */
  lostAfterSending: boolean;
  /** answered | refused (a 4xx that created nothing) | lost (no answer, not retried). */
  outcome: "answered" | "refused" | "lost";
  detail?: string;
}

export interface CheckInput {
  db: pg.ClientBase;
  submissions: Submission[];
  receiver: Pick<CallbackReceiver, "arrivals" | "acknowledged" | "duplicates">;
  /** The data dir's `files` folder. */
  filesDir: string;
  /** What GET /admin/v1/ledger/check answered. */
  ledgerCheck: { consistent: boolean; problems: unknown[] };
}

export interface CheckResult {
  violations: string[];
  tasks: { total: number; completed: number; failed: number; byError: Record<string, number> };
  accounts: number;
  callbacks: {
    tasks: number;
    delivered: number;
    failed: number;
    requests: number;
    redelivered: number;
    /** Acknowledged again after a first acknowledgement (deduplicated by webhook-id). */
    acknowledgedTwice: number;
  };
  files: { images: number };
}

const TAG_RE = /chaos#(\S+)/;

interface TaskRow {
  id: string;
  account_id: string;
  status: string;
  request: string;
  credits_reserved_micros: string;
  credits_used_micros: string | null;
  results: string | null;
  callback_url: string | null;
  error_code: string | null;
}

export async function checkRun(input: CheckInput): Promise<CheckResult> {
  const { db } = input;
  const violations: string[] = [];
  const problem = (s: string) => {
    // A broken invariant tends to break it for many tasks: keep the report readable.
    if (violations.length < 200) violations.push(s);
    else if (violations.length === 200) violations.push("… (more left out)");
  };

  const tasks = (
    await db.query<TaskRow>(
      `SELECT id, account_id, status, request, credits_reserved_micros, credits_used_micros,
              results, callback_url, error_code FROM tasks`,
    )
  ).rows;
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const byError: Record<string, number> = {};
  let completed = 0;
  let failed = 0;
  for (const t of tasks) {
    if (t.status === "completed") completed++;
    else if (t.status === "failed") {
      failed++;
      byError[t.error_code ?? "?"] = (byError[t.error_code ?? "?"] ?? 0) + 1;
    } else problem(`task ${t.id} is stuck in ${t.status}`);
  }

  // The ledger, task by task.
  const entries = (
    await db.query<{ task_id: string; kind: string; n: string; sum: string }>(
      `SELECT task_id, kind, COUNT(*) AS n, SUM(amount_micros) AS sum FROM ledger_entries
       WHERE task_id IS NOT NULL GROUP BY task_id, kind`,
    )
  ).rows;
  const ledger = new Map<string, Map<string, { n: number; sum: number }>>();
  for (const e of entries) {
    const m = ledger.get(e.task_id) ?? new Map<string, { n: number; sum: number }>();
    m.set(e.kind, { n: Number(e.n), sum: Number(e.sum) });
    ledger.set(e.task_id, m);
  }
  for (const id of ledger.keys())
    if (!byId.has(id)) problem(`ledger entries for task ${id}, which does not exist`);
  for (const t of tasks) {
    const m = ledger.get(t.id) ?? new Map<string, { n: number; sum: number }>();
    const count = (k: string) => m.get(k)?.n ?? 0;
    const sum = (k: string) => m.get(k)?.sum ?? 0;
    if (count("reserve") !== 1) problem(`task ${t.id}: ${count("reserve")} reserve entries`);
    if (t.status !== "completed" && t.status !== "failed") continue;
    if (count("capture") !== 1 || count("release") !== 1)
      problem(`task ${t.id}: ${count("capture")} captures and ${count("release")} releases`);
    const reserved = Number(t.credits_reserved_micros);
    const used = Number(t.credits_used_micros ?? 0);
    if (sum("reserve") !== reserved)
      problem(`task ${t.id}: reserved ${sum("reserve")} in the ledger, ${reserved} on the task`);
    if (sum("capture") + sum("release") !== sum("reserve"))
      problem(`task ${t.id}: capture ${sum("capture")} + release ${sum("release")} ≠ reserve`);
    if (sum("capture") !== used)
      problem(`task ${t.id}: captured ${sum("capture")} but credits_used is ${used}`);
    if (t.status === "failed" && used !== 0) problem(`failed task ${t.id} was charged ${used}`);
  }

  // Accounts.
  const accounts = (
    await db.query<{
      id: string;
      balance_micros: string;
      held_micros: string;
      used_micros: string;
      credited: string;
      captured: string;
    }>(
      `SELECT a.id, a.balance_micros, a.held_micros, a.used_micros,
         COALESCE(SUM(l.amount_micros) FILTER (WHERE l.kind IN ('topup', 'adjust')), 0) AS credited,
         COALESCE(SUM(l.amount_micros) FILTER (WHERE l.kind = 'capture'), 0) AS captured
       FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id GROUP BY a.id`,
    )
  ).rows;
  for (const a of accounts) {
    const balance = Number(a.credited) - Number(a.captured);
    if (Number(a.balance_micros) !== balance)
      problem(`account ${a.id}: balance ${a.balance_micros} but top-ups − charges = ${balance}`);
    if (Number(a.held_micros) !== 0) problem(`account ${a.id}: ${a.held_micros} still held`);
    if (Number(a.used_micros) !== Number(a.captured))
      problem(`account ${a.id}: used ${a.used_micros} but charges sum to ${a.captured}`);
  }
  if (!input.ledgerCheck.consistent || input.ledgerCheck.problems.length > 0)
    problem(`GET /admin/v1/ledger/check: ${JSON.stringify(input.ledgerCheck.problems)}`);

  // Submissions against tasks.
  const tasksByTag = new Map<string, TaskRow[]>();
  for (const t of tasks) {
    const tag = TAG_RE.exec((JSON.parse(t.request) as { prompt: string }).prompt)?.[1];
    if (!tag) {
      problem(`task ${t.id} was submitted by no client`);
      continue;
    }
    tasksByTag.set(tag, [...(tasksByTag.get(tag) ?? []), t]);
  }
  const tags = new Set<string>();
  for (const s of input.submissions) {
    tags.add(s.tag);
    const found = tasksByTag.get(s.tag) ?? [];
    if (found.length > 1)
      problem(
        `submission ${s.tag} made ${found.length} tasks: ${found.map((t) => t.id).join(", ")}`,
      );
    if (s.outcome === "answered") {
      if (found.length === 0)
        problem(`submission ${s.tag} was answered ${s.taskId} but is not stored`);
      else if (found[0]!.id !== s.taskId)
        problem(`submission ${s.tag} was answered ${s.taskId} but stored as ${found[0]!.id}`);
      if (s.crash && s.lostAfterSending && !s.replayed)
        problem(`submission ${s.tag}: the retry after the crash was not a replay`);
    } else if (s.outcome === "refused" && found.length > 0)
      problem(`submission ${s.tag} was refused (${s.detail}) yet made task ${found[0]!.id}`);
    else if (s.outcome === "lost" && s.idempotencyKey !== null)
      problem(`submission ${s.tag} with an Idempotency-Key never got an answer (${s.detail})`);
    if (found[0] && found[0].account_id !== s.accountId)
      problem(`submission ${s.tag} landed on account ${found[0].account_id}`);
  }
  for (const tag of tasksByTag.keys())
    if (!tags.has(tag)) problem(`task tagged ${tag} matches no submission`);

  // Callbacks.
  const outbox = (
    await db.query<{ id: string; task_id: string; status: string }>(
      `SELECT id, task_id, status FROM webhook_outbox`,
    )
  ).rows;
  const outboxByTask = new Map(outbox.map((o) => [o.task_id, o]));
  let delivered = 0;
  let failedCallbacks = 0;
  let withCallback = 0;
  for (const t of tasks) {
    const o = outboxByTask.get(t.id);
    if (t.callback_url === null) {
      if (o) problem(`task ${t.id} has no callback_url but a delivery ${o.id}`);
      continue;
    }
    withCallback++;
    if (!o) {
      problem(`task ${t.id} (${t.status}) has a callback_url but no delivery`);
      continue;
    }
    if (o.status === "delivered") {
      delivered++;
      const ack = input.receiver.acknowledged.get(o.id);
      if (!ack)
        problem(`delivery ${o.id} of ${t.id} is delivered but the receiver never acknowledged it`);
      else if (ack.taskId !== t.id || ack.status !== t.status)
        problem(
          `delivery ${o.id} acknowledged ${ack.taskId} ${ack.status}, task is ${t.id} ${t.status}`,
        );
    } else if (o.status === "failed") failedCallbacks++;
    else problem(`delivery ${o.id} of ${t.id} is still ${o.status}`);
  }
  const idsByTask = new Map<string, Set<string>>();
  for (const a of input.receiver.arrivals) {
    const t = byId.get(a.taskId);
    if (!t) {
      problem(`the receiver got a callback for unknown task "${a.taskId}"`);
      continue;
    }
    if (a.status !== t.status)
      problem(`a callback for ${t.id} said ${a.status}, the task is ${t.status}`);
    const ids = idsByTask.get(a.taskId) ?? new Set<string>();
    ids.add(a.webhookId);
    idsByTask.set(a.taskId, ids);
  }
  let redelivered = 0;
  for (const [taskId, ids] of idsByTask) {
    if (ids.size > 1) problem(`task ${taskId} was called back with ${ids.size} webhook-ids`);
    const o = outboxByTask.get(taskId);
    if (o && !ids.has(o.id))
      problem(`task ${taskId} was called back with a webhook-id not its delivery's`);
  }
  const perWebhook = new Map<string, number>();
  for (const a of input.receiver.arrivals)
    perWebhook.set(a.webhookId, (perWebhook.get(a.webhookId) ?? 0) + 1);
  for (const n of perWebhook.values()) if (n > 1) redelivered++;

  // Files.
  const expected = new Map<string, number>();
  for (const t of tasks) {
    if (t.status !== "completed" || !t.results) continue;
    for (const img of JSON.parse(t.results) as Array<{ key: string; bytes: number }>)
      expected.set(img.key, img.bytes);
  }
  const onDisk = listFiles(input.filesDir);
  for (const key of onDisk)
    if (!expected.has(key)) problem(`orphan file ${key} (no completed task lists it)`);
  const present = new Set(onDisk);
  for (const [key, bytes] of expected) {
    if (!present.has(key)) problem(`missing file ${key} of a completed task`);
    else if (statSync(path.join(input.filesDir, key)).size !== bytes)
      problem(`file ${key} is not ${bytes} bytes`);
  }

  return {
    violations,
    tasks: { total: tasks.length, completed, failed, byError },
    accounts: accounts.length,
    callbacks: {
      tasks: withCallback,
      delivered,
      failed: failedCallbacks,
      requests: input.receiver.arrivals.length,
      redelivered,
      acknowledgedTwice: input.receiver.duplicates,
    },
    files: { images: expected.size },
  };
}

/** Every file under `dir`, as keys relative to it (`images/…/x.jpg`). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let entries;
    try {
      entries = readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk("");
  return out;
}
