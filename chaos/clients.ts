/**
 * The submitting clients of a chaos run. Each has an account and a key of its own and
 * sends its share of the submissions a few at a time, most with an Idempotency-Key.
 * A keyed submission that gets no answer (its API process died) is retried with the
 * same key, against the next API process, until it is answered: the gateway must then
 * answer the task it created, once. A few submissions carry the crash-after-commit
 * marker: the API process that commits one dies before answering it.
 */
import type { Submission } from "./check.js";

export interface ClientAccount {
  accountId: string;
  apiKey: string;
}

export interface ClientPlan {
  /** API base URLs; a retry moves to the next one. */
  apis: () => string[];
  accounts: ClientAccount[];
  tasks: number;
  /** Submissions in flight per client. */
  concurrency: number;
  /** Submissions that carry the crash marker (spread over the run). */
  crashes: number;
  crashMarker: string;
  callbackUrl: string;
  random: () => number;
  /** Stop retrying a keyed submission after this long without an answer. */
  giveUpMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Attempt =
  | {
      kind: "answer";
      status: number;
      json: { id?: string; error?: { code?: string } };
      replayed: boolean;
    }
  /** No answer; `unsent`: the connection was refused, so the request never arrived. */
  | { kind: "lost"; message: string; unsent: boolean };

async function post(
  url: string,
  key: string,
  body: unknown,
  idem: string | null,
): Promise<Attempt> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    "content-type": "application/json",
  };
  if (idem) headers["idempotency-key"] = idem;
  try {
    const res = await fetch(`${url}/v1/images/generations`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json: { id?: string; error?: { code?: string } } = {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // a proxy's or a dying process's non-JSON answer
    }
    return {
      kind: "answer",
      status: res.status,
      json,
      replayed: res.headers.get("idempotency-replayed") === "true",
    };
  } catch (err) {
    const cause = (err as Error).cause as { code?: string } | undefined;
    return { kind: "lost", message: String(cause ?? err), unsent: cause?.code === "ECONNREFUSED" };
  }
}

/** A random submission body; `tag` goes in the prompt so the check can find its task. */
function bodyFor(tag: string, plan: ClientPlan, crash: boolean, client: number) {
  const r = plan.random;
  const callback = r() < 0.7;
  const markers = crash ? ` ${plan.crashMarker}` : "";
  let body: Record<string, unknown>;
  if (r() < 0.75) {
    // A content-policy failure of the first image now and then (Ark goes on with the set).
    const policy = r() < 0.04 ? " [ark:moderate=0]" : "";
    body = {
      model: "doubao-seedream-4.0",
      prompt: `chaos#${tag} a lighthouse at dusk${policy}${markers}`,
      n: 1 + Math.floor(r() * 3),
      size: "1K",
    };
  } else {
    const policy = r() < 0.04 ? " [openai:moderate]" : "";
    body = {
      model: "gpt-image-1",
      prompt: `chaos#${tag} a harbour in fog${policy}${markers}`,
      n: 1 + Math.floor(r() * 2),
      size: "1024x1024",
      quality: "low",
    };
  }
  if (callback) body.callback_url = `${plan.callbackUrl}/hooks/${client}`;
  return { body, callback };
}

/** Runs every client to the end; resolves with what each submission came to. */
export async function runClients(plan: ClientPlan): Promise<Submission[]> {
  const out: Submission[] = [];
  const crashEvery =
    plan.crashes > 0 ? Math.max(2, Math.floor(plan.tasks / (plan.crashes + 1))) : 0;
  let next = 0;
  let crashesLeft = plan.crashes;
  const take = (): { seq: number; crash: boolean } | null => {
    if (next >= plan.tasks) return null;
    const seq = next++;
    const crash = crashEvery > 0 && crashesLeft > 0 && seq > 0 && seq % crashEvery === 0;
    if (crash) crashesLeft--;
    return { seq, crash };
  };

  async function one(client: number, seq: number, crash: boolean): Promise<void> {
    const account = plan.accounts[client]!;
    const tag = `c${client}-${seq}`;
    // A quarter without a key: answered by the submission fast path, not retried.
    const keyed = crash || plan.random() >= 0.25;
    const idem = keyed ? `chaos-${tag}` : null;
    const { body, callback } = bodyFor(tag, plan, crash, client);
    const s: Submission = {
      tag,
      accountId: account.accountId,
      idempotencyKey: idem,
      crash,
      withCallback: callback,
      taskId: null,
      replayed: false,
      lostAfterSending: false,
      outcome: "lost",
    };
    out.push(s);
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const apis = plan.apis();
      // The crash marker goes to the first API; a retry moves on to the next.
      const at = crash ? attempt : seq + attempt;
      const url = apis[at % apis.length]!;
      const a = await post(url, account.apiKey, body, idem);
      if (a.kind === "lost" || a.status >= 500) {
        if (a.kind === "lost" && !a.unsent) s.lostAfterSending = true;
        const why = a.kind === "lost" ? a.message : `HTTP ${a.status} ${a.json.error?.code}`;
        // A refused connection, or a 503 (queue_full, service_unavailable), created
        // nothing: retry; anything else is ambiguous without an Idempotency-Key.
        const refusedWithoutWrite = a.kind === "answer" ? a.status === 503 : a.unsent;
        if ((!idem && !refusedWithoutWrite) || Date.now() - started > plan.giveUpMs) {
          s.outcome = "lost";
          s.detail = why;
          return;
        }
        await sleep(200 + plan.random() * 300);
        continue;
      }
      if (a.status === 429) {
        await sleep(300 + plan.random() * 500);
        continue;
      }
      if (a.status !== 200 || typeof a.json.id !== "string") {
        s.outcome = "refused";
        s.detail = `HTTP ${a.status} ${a.json.error?.code}`;
        return;
      }
      s.outcome = "answered";
      s.taskId = a.json.id;
      s.replayed = a.replayed;
      return;
    }
  }

  await Promise.all(
    plan.accounts.flatMap((_, client) =>
      Array.from({ length: plan.concurrency }, async () => {
        for (let job = take(); job; job = take()) await one(client, job.seq, job.crash);
      }),
    ),
  );
  return out;
}
