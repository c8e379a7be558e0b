/**
 * Finishes group-committed (migration step 005): several finishes in one call of
 * darkroom_finish_batch, so one round trip and one commit. One finish at a time
 * locked the account's row until its commit, so every worker of a deployment that
 * serves one busy account queued on that row, a commit each: ~150 finishes/s. A batch
 * takes the row once and settles all its tasks under it.
 *
 * Locks are taken in the order every write keeps (task-functions.ts): the batch's keys
 * (by id), then its accounts (by id), then its tasks (by id), then task_counts (the
 * per-statement trigger, in key order). The tasks are looked up first without locks;
 * only a task still leased under the named token is locked and moved.
 *
 * The ledger stays exact: each task is moved and settled in the same statement pair,
 * each account and key is updated once by the batch's sums, and each task's capture
 * and release entries carry the running balance and hold after it, in batch order, as
 * if the finishes had been settled one by one. The ledger's unique (task_id, kind)
 * index still refuses a second settlement.
 */

/**
 * `items`: a JSON array of {ord, id, token, status, progress, results, error_code,
 * error_message, charge, now_ms, outbox_id}. Returns the `ord` of each finish that moved
 * its task; a finish whose lease is gone is absent. A task named twice is moved once,
 * by the first.
 */
const FINISH_BATCH = `
CREATE FUNCTION darkroom_finish_batch(items jsonb)
RETURNS TABLE (out_ord integer) LANGUAGE plpgsql AS $$
DECLARE
  moved jsonb;
BEGIN
  PERFORM 1 FROM api_keys WHERE id IN (
      SELECT t.api_key_id FROM tasks t JOIN jsonb_to_recordset(items) AS x(id text, token text)
        ON t.id = x.id AND t.lease_token = x.token AND t.status = 'processing')
    ORDER BY id FOR UPDATE;
  PERFORM 1 FROM accounts WHERE id IN (
      SELECT t.account_id FROM tasks t JOIN jsonb_to_recordset(items) AS x(id text, token text)
        ON t.id = x.id AND t.lease_token = x.token AND t.status = 'processing')
    ORDER BY id FOR UPDATE;
  PERFORM 1 FROM tasks t JOIN jsonb_to_recordset(items) AS x(id text, token text)
      ON t.id = x.id AND t.lease_token = x.token AND t.status = 'processing'
    ORDER BY t.id FOR UPDATE OF t;

  -- One statement moves them all: the count trigger runs once, in key order.
  WITH x AS (
    SELECT DISTINCT ON (i.id) i.* FROM jsonb_to_recordset(items) AS i(ord integer, id text,
        token text, status text, progress integer, results text, error_code text,
        error_message text, charge bigint, now_ms bigint, outbox_id text)
      ORDER BY i.id, i.ord),
  m AS (
    UPDATE tasks t SET status = x.status, progress = COALESCE(x.progress, t.progress),
        results = x.results, error_code = x.error_code, error_message = x.error_message,
        credits_used_micros = x.charge, finished_ms = x.now_ms, updated_ms = x.now_ms,
        lease_owner = NULL, lease_token = NULL, lease_expires_ms = NULL
      FROM x
      WHERE t.id = x.id AND t.lease_token = x.token AND t.status = 'processing'
      RETURNING x.ord, t.id, t.account_id, t.api_key_id, t.credits_reserved_micros AS reserved,
        x.charge, t.callback_url, x.outbox_id, x.now_ms)
  SELECT COALESCE(jsonb_agg(m ORDER BY m.ord), '[]'::jsonb) INTO moved FROM m;

  IF EXISTS (SELECT 1 FROM jsonb_to_recordset(moved) AS m(id text, reserved bigint, charge bigint)
      WHERE m.charge > m.reserved) THEN
    RAISE EXCEPTION 'a settlement in this batch would charge more than was reserved';
  END IF;

  UPDATE api_keys k SET held_micros = k.held_micros - s.reserved,
      used_micros = k.used_micros + s.charge, active_tasks = k.active_tasks - s.n
    FROM (SELECT m.api_key_id, sum(m.reserved)::bigint AS reserved, sum(m.charge)::bigint AS charge,
            count(*)::integer AS n
          FROM jsonb_to_recordset(moved) AS m(api_key_id text, reserved bigint, charge bigint)
          GROUP BY m.api_key_id) AS s
    WHERE k.id = s.api_key_id;

  -- Each account once, by the batch's sums; its entries get the running figures back
  -- from where it stood before the batch.
  WITH mv AS (
    SELECT * FROM jsonb_to_recordset(moved) AS m(ord integer, id text, account_id text,
        api_key_id text, reserved bigint, charge bigint, now_ms bigint)),
  a AS (
    UPDATE accounts a SET balance_micros = a.balance_micros - s.charge,
        held_micros = a.held_micros - s.reserved, used_micros = a.used_micros + s.charge
      FROM (SELECT account_id, sum(charge)::bigint AS charge, sum(reserved)::bigint AS reserved
            FROM mv GROUP BY account_id) AS s
      WHERE a.id = s.account_id
      RETURNING a.id, a.balance_micros + s.charge AS balance0, a.held_micros + s.reserved AS held0),
  e AS (
    SELECT mv.*, (a.balance0 - sum(mv.charge) OVER w)::bigint AS balance_after,
        (a.held0 - sum(mv.reserved) OVER w)::bigint AS held_after
      FROM mv JOIN a ON a.id = mv.account_id
      WINDOW w AS (PARTITION BY mv.account_id ORDER BY mv.ord))
  INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros,
      balance_after_micros, held_after_micros, created_ms)
    SELECT e.account_id, e.api_key_id, e.id, k.kind,
        CASE k.kind WHEN 'capture' THEN e.charge ELSE e.reserved - e.charge END,
        e.balance_after, e.held_after, e.now_ms
      FROM e CROSS JOIN (VALUES (1, 'capture'), (2, 'release')) AS k(n, kind)
      ORDER BY e.ord, k.n;

  INSERT INTO webhook_outbox (id, task_id, account_id, url, next_attempt_ms, created_ms)
    SELECT m.outbox_id, m.id, m.account_id, m.callback_url, m.now_ms, m.now_ms
      FROM jsonb_to_recordset(moved) AS m(ord integer, id text, account_id text,
        callback_url text, outbox_id text, now_ms bigint)
      WHERE m.callback_url IS NOT NULL ORDER BY m.ord;

  RETURN QUERY SELECT m.ord FROM jsonb_to_recordset(moved) AS m(ord integer);
END
$$`;

export const finishBatch: string[] = [FINISH_BATCH];
