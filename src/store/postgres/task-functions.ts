/**
 * The task store's hot writes as PL/pgSQL functions (migration step 002), so that each
 * is one round trip and one transaction: a submission batch, a claim, a finish and a
 * cancel. The rules are SQLite's (store/sqlite/submit-batch.ts, claim.ts, finish.ts);
 * what differs is how concurrent writers are kept apart, since PostgreSQL has many:
 *
 * - Row locks, always taken in one order: API keys (by id), then accounts (by id), then
 *   tasks, then task_counts (whose trigger locks its rows in key order). A submission
 *   batch locks every key and account it names up front, sorted; a finish or cancel
 *   looks its task up, locks its key and account, then moves the task. No cycle, so no
 *   deadlock between them; a conditional UPDATE on a locked row re-reads the latest committed
 *   values, so a total can never pass the balance, the key's limit or max_concurrent.
 * - The idempotency key of an account is read and written while its account row is
 *   locked, so two processes cannot both create a task under one key.
 * - Claims lock runnable rows with `FOR UPDATE SKIP LOCKED`: workers claim side by side,
 *   none waits for another's rows, and no row goes to two of them.
 * - Every leased write names (id, lease_token); the ledger's unique (task_id, kind)
 *   index makes a second capture or release fail even if a bug got past that.
 */

/**
 * A batch of submissions, decided in order (a later one sees an earlier one's holds and
 * idempotency key). `items` is a JSON array of SubmitRow-shaped objects (snake_case).
 * Returns one row per item, in order: its verdict, and the task (as JSON) on a replay.
 */
const SUBMIT = `
CREATE FUNCTION darkroom_submit(items jsonb)
RETURNS TABLE (out_kind text, out_task jsonb, out_estimated integer) LANGUAGE plpgsql AS $$
DECLARE
  r record;
  prev record;
  had_prev boolean;
  acct record;
  busy boolean;
  ahead bigint;
  est integer;
BEGIN
  PERFORM 1 FROM api_keys
    WHERE id IN (SELECT DISTINCT x->>'key_id' FROM jsonb_array_elements(items) AS x)
    ORDER BY id FOR UPDATE;
  PERFORM 1 FROM accounts
    WHERE id IN (SELECT DISTINCT x->>'account_id' FROM jsonb_array_elements(items) AS x)
    ORDER BY id FOR UPDATE;

  FOR r IN SELECT * FROM jsonb_to_recordset(items) AS x(
      task_id text, account_id text, key_id text, group_name text, multiplier_ppm bigint,
      model text, n integer, request text, callback_url text, reserve bigint, price bigint,
      estimated_s integer, now_ms bigint, idem_key text, idem_hash text, replay_only boolean,
      max_queued bigint, queue_slots integer, queue_round_seconds integer)
  LOOP
    out_task := NULL;
    out_estimated := NULL;
    IF r.idem_key IS NOT NULL THEN
      SELECT k.request_hash, k.task_id, k.created_ms INTO prev FROM idempotency_keys k
        WHERE k.account_id = r.account_id AND k.idem_key = r.idem_key;
      had_prev := FOUND;
      IF had_prev AND r.now_ms - prev.created_ms < 86400000 THEN
        IF prev.request_hash <> r.idem_hash THEN
          out_kind := 'idempotency_conflict'; RETURN NEXT; CONTINUE;
        END IF;
        SELECT to_jsonb(t) INTO out_task FROM tasks t WHERE t.id = prev.task_id;
        IF out_task IS NOT NULL THEN
          out_kind := 'replayed'; RETURN NEXT; CONTINUE;
        END IF;
      END IF;
      -- An expired entry (or one whose task is gone) no longer binds the key.
      IF had_prev AND NOT r.replay_only THEN
        DELETE FROM idempotency_keys k WHERE k.account_id = r.account_id AND k.idem_key = r.idem_key;
      END IF;
    END IF;
    IF r.replay_only THEN
      out_kind := 'not_created'; RETURN NEXT; CONTINUE;
    END IF;

    UPDATE api_keys k SET held_micros = k.held_micros + r.reserve, active_tasks = k.active_tasks + 1
      WHERE k.id = r.key_id
        AND (k.credit_limit_micros IS NULL OR k.credit_limit_micros - k.used_micros - k.held_micros >= r.reserve)
        AND (k.max_concurrent IS NULL OR k.active_tasks < k.max_concurrent);
    IF NOT FOUND THEN
      SELECT (k.max_concurrent IS NOT NULL AND k.active_tasks >= k.max_concurrent) INTO busy
        FROM api_keys k WHERE k.id = r.key_id;
      out_kind := CASE WHEN busy THEN 'too_many_active_tasks' ELSE 'key_limit_exceeded' END;
      RETURN NEXT; CONTINUE;
    END IF;
    UPDATE accounts a SET held_micros = a.held_micros + r.reserve
      WHERE a.id = r.account_id AND a.balance_micros - a.held_micros >= r.reserve
      RETURNING a.balance_micros, a.held_micros INTO acct;
    IF NOT FOUND THEN
      UPDATE api_keys k SET held_micros = k.held_micros - r.reserve, active_tasks = k.active_tasks - 1
        WHERE k.id = r.key_id;
      out_kind := 'insufficient_balance'; RETURN NEXT; CONTINUE;
    END IF;
    -- The model's queue (model_queue, kept by its trigger), locked after the key and the
    -- account: a full queue refuses, and gives the holds back.
    SELECT q.pending INTO ahead FROM model_queue q WHERE q.model = r.model FOR UPDATE;
    ahead := COALESCE(ahead, 0);
    IF r.max_queued IS NOT NULL AND ahead >= r.max_queued THEN
      UPDATE api_keys k SET held_micros = k.held_micros - r.reserve, active_tasks = k.active_tasks - 1
        WHERE k.id = r.key_id;
      UPDATE accounts a SET held_micros = a.held_micros - r.reserve WHERE a.id = r.account_id;
      out_kind := 'queue_full'; RETURN NEXT; CONTINUE;
    END IF;
    est := r.estimated_s + CASE WHEN r.queue_slots > 0
      THEN floor(ahead / r.queue_slots)::integer * GREATEST(0, r.queue_round_seconds) ELSE 0 END;

    INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros,
        balance_after_micros, held_after_micros, reason, created_ms)
      VALUES (r.account_id, r.key_id, r.task_id, 'reserve', r.reserve, acct.balance_micros,
        acct.held_micros, NULL, r.now_ms);
    INSERT INTO tasks (id, account_id, api_key_id, model, status, progress, request, n, user_group,
        price_micros, multiplier_ppm, credits_reserved_micros, estimated_s, callback_url,
        run_after_ms, created_s, created_ms, updated_ms)
      VALUES (r.task_id, r.account_id, r.key_id, r.model, 'pending', 0, r.request, r.n, r.group_name,
        r.price, r.multiplier_ppm, r.reserve, est, r.callback_url,
        r.now_ms, floor(r.now_ms / 1000), r.now_ms, r.now_ms);
    IF r.idem_key IS NOT NULL THEN
      INSERT INTO idempotency_keys (account_id, idem_key, request_hash, task_id, created_ms)
        VALUES (r.account_id, r.idem_key, r.idem_hash, r.task_id, r.now_ms);
    END IF;
    out_kind := 'created'; out_estimated := est; RETURN NEXT;
  END LOOP;
END
$$`;

/**
 * A claim: up to p_limit runnable tasks, lapsed leases first, then pending ones, each
 * oldest first, with per-model budgets (p_models[i] may take p_budgets[i] more; models
 * absent are not capped). A model whose budget runs out is excluded and the pick is
 * repeated, at most 8 rounds, as on SQLite. Each claimed task gets p_tokens[i] for the
 * i-th claim; the caller maps rows back to their order by token.
 */
const CLAIM = `
CREATE FUNCTION darkroom_claim(p_owner text, p_limit integer, p_until bigint, p_now bigint,
    p_models text[], p_budgets integer[], p_tokens text[])
RETURNS SETOF tasks LANGUAGE plpgsql AS $$
DECLARE
  left_ integer[] := p_budgets;
  excluded text[];
  picked text[] := '{}';
  r record;
  i integer;
  want integer;
  skipped boolean;
BEGIN
  excluded := ARRAY(SELECT p_models[j] FROM generate_subscripts(p_models, 1) AS j WHERE p_budgets[j] <= 0);
  FOR n_round IN 1..8 LOOP
    want := p_limit - cardinality(picked);
    EXIT WHEN want <= 0;
    skipped := false;
    FOR r IN
      SELECT * FROM (
        SELECT t.id, t.model FROM tasks t
          WHERE t.status = 'processing' AND t.lease_expires_ms < p_now
            AND t.model <> ALL (excluded) AND t.id <> ALL (picked)
          ORDER BY t.lease_expires_ms LIMIT want FOR UPDATE SKIP LOCKED) AS lapsed
      UNION ALL
      SELECT * FROM (
        SELECT t.id, t.model FROM tasks t
          WHERE t.status = 'pending' AND t.run_after_ms <= p_now
            AND t.model <> ALL (excluded) AND t.id <> ALL (picked)
          ORDER BY t.run_after_ms LIMIT want FOR UPDATE SKIP LOCKED) AS pending
    LOOP
      CONTINUE WHEN cardinality(picked) >= p_limit;
      i := array_position(p_models, r.model);
      IF i IS NOT NULL THEN
        IF left_[i] <= 0 THEN
          skipped := true;
          CONTINUE;
        END IF;
        left_[i] := left_[i] - 1;
        IF left_[i] <= 0 THEN excluded := excluded || r.model; END IF;
      END IF;
      picked := picked || r.id;
    END LOOP;
    EXIT WHEN NOT skipped;
  END LOOP;

  RETURN QUERY
    UPDATE tasks t SET status = 'processing', lease_owner = p_owner, lease_token = p_tokens[x.ord],
        lease_expires_ms = p_until, attempts = t.attempts + 1,
        started_ms = COALESCE(t.started_ms, p_now), updated_ms = p_now
      FROM unnest(picked) WITH ORDINALITY AS x(id, ord)
      WHERE t.id = x.id
        AND (t.status = 'pending' OR (t.status = 'processing' AND t.lease_expires_ms < p_now))
      RETURNING t.*;
END
$$`;

/**
 * Capture p_charge out of a moved task's hold and release the rest: its key, then its
 * account (the lock order), then the two ledger entries, then the callback's outbox row.
 */
const SETTLE = `
CREATE FUNCTION darkroom_settle(p_task_id text, p_account_id text, p_key_id text,
    p_reserved bigint, p_charge bigint, p_callback_url text, p_outbox_id text, p_now bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  acct record;
BEGIN
  IF p_charge > p_reserved THEN
    RAISE EXCEPTION 'settlement for % would charge more than was reserved', p_task_id;
  END IF;
  UPDATE api_keys SET held_micros = held_micros - p_reserved, used_micros = used_micros + p_charge,
      active_tasks = active_tasks - 1
    WHERE id = p_key_id;
  UPDATE accounts SET balance_micros = balance_micros - p_charge,
      held_micros = held_micros - p_reserved, used_micros = used_micros + p_charge
    WHERE id = p_account_id
    RETURNING balance_micros, held_micros INTO acct;
  INSERT INTO ledger_entries (account_id, api_key_id, task_id, kind, amount_micros,
      balance_after_micros, held_after_micros, created_ms)
    VALUES (p_account_id, p_key_id, p_task_id, 'capture', p_charge, acct.balance_micros, acct.held_micros, p_now),
           (p_account_id, p_key_id, p_task_id, 'release', p_reserved - p_charge, acct.balance_micros, acct.held_micros, p_now);
  IF p_callback_url IS NOT NULL THEN
    INSERT INTO webhook_outbox (id, task_id, account_id, url, next_attempt_ms, created_ms)
      VALUES (p_outbox_id, p_task_id, p_account_id, p_callback_url, p_now, p_now);
  END IF;
END
$$`;

/**
 * The terminal move, fenced by the lease, and its settlement; false when the lease is gone.
 * The store now finishes in batches (darkroom_finish_batch, finish-batch.ts); this one stays
 * as applied.
 */
const FINISH = `
CREATE FUNCTION darkroom_finish(p_id text, p_token text, p_status text, p_progress integer,
    p_results text, p_error_code text, p_error_message text, p_charge bigint, p_now bigint,
    p_outbox_id text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  m record;
BEGIN
  -- The key and the account first, as a submission locks them: no lock cycle.
  SELECT account_id, api_key_id INTO m FROM tasks
    WHERE id = p_id AND lease_token = p_token AND status = 'processing';
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM 1 FROM api_keys WHERE id = m.api_key_id FOR UPDATE;
  PERFORM 1 FROM accounts WHERE id = m.account_id FOR UPDATE;
  UPDATE tasks SET status = p_status, progress = COALESCE(p_progress, progress), results = p_results,
      error_code = p_error_code, error_message = p_error_message, credits_used_micros = p_charge,
      finished_ms = p_now, updated_ms = p_now, lease_owner = NULL, lease_token = NULL,
      lease_expires_ms = NULL
    WHERE id = p_id AND lease_token = p_token AND status = 'processing'
    RETURNING account_id, api_key_id, credits_reserved_micros, callback_url INTO m;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM darkroom_settle(p_id, m.account_id, m.api_key_id, m.credits_reserved_micros, p_charge,
    m.callback_url, p_outbox_id, p_now);
  RETURN true;
END
$$`;

/** A pending task is failed and refunded at once; a processing one is asked to stop. */
const CANCEL = `
CREATE FUNCTION darkroom_cancel(p_account text, p_id text, p_now bigint, p_outbox_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  m record;
BEGIN
  -- A pending task's key and account first, as a submission locks them: no lock cycle.
  SELECT account_id, api_key_id INTO m FROM tasks
    WHERE id = p_id AND account_id = p_account AND status = 'pending';
  IF FOUND THEN
    PERFORM 1 FROM api_keys WHERE id = m.api_key_id FOR UPDATE;
    PERFORM 1 FROM accounts WHERE id = m.account_id FOR UPDATE;
  END IF;
  UPDATE tasks SET status = 'failed', error_code = 'request_cancelled',
      error_message = 'The task was cancelled.', credits_used_micros = 0, finished_ms = p_now,
      updated_ms = p_now
    WHERE id = p_id AND account_id = p_account AND status = 'pending'
    RETURNING account_id, api_key_id, credits_reserved_micros, callback_url INTO m;
  IF FOUND THEN
    PERFORM darkroom_settle(p_id, m.account_id, m.api_key_id, m.credits_reserved_micros, 0,
      m.callback_url, p_outbox_id, p_now);
    RETURN 'cancelled';
  END IF;
  UPDATE tasks SET cancel_requested = 1, updated_ms = p_now
    WHERE id = p_id AND account_id = p_account AND status = 'processing' AND cancellable = 1;
  IF FOUND THEN RETURN 'requested'; END IF;
  RETURN 'not_cancellable';
END
$$`;

/**
 * Marks a claimed task on a channel only while the channel has a free slot in the whole
 * deployment (p_max; null = no limit): its running tasks with a live lease, counted
 * under a transaction-scoped advisory lock per channel, so two processes cannot both
 * take the last slot. Answers 'ok', 'channel_full', 'cancel_requested' or 'lease_lost'.
 */
const MARK_CHANNEL = `
CREATE FUNCTION darkroom_mark_channel(p_id text, p_token text, p_channel text,
    p_cancellable smallint, p_now bigint, p_max integer)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM tasks WHERE id = p_id AND lease_token = p_token AND status = 'processing';
  IF NOT FOUND THEN RETURN 'lease_lost'; END IF;
  IF p_max IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtext('darkroom.channel.' || p_channel));
    IF (SELECT COUNT(*) FROM tasks WHERE channel_id = p_channel AND status = 'processing'
          AND lease_expires_ms >= p_now AND id <> p_id) >= p_max THEN
      RETURN 'channel_full';
    END IF;
  END IF;
  -- A cancel that got in first wins: the upstream call must not start.
  UPDATE tasks SET channel_id = p_channel, cancellable = p_cancellable, updated_ms = p_now
    WHERE id = p_id AND lease_token = p_token AND status = 'processing'
      AND (cancel_requested = 0 OR p_cancellable = 1);
  IF FOUND THEN RETURN 'ok'; END IF;
  RETURN 'cancel_requested';
END
$$`;

/**
 * Fails up to p_limit tasks still pending since before p_cutoff (never claimed: no
 * upstream was called), oldest first, each settled like a cancel of a pending task.
 * A claim or a cancel racing with it wins or loses a task whole.
 */
const EXPIRE = `
CREATE FUNCTION darkroom_expire(p_cutoff bigint, p_limit integer, p_code text, p_message text,
    p_now bigint)
RETURNS TABLE (out_id text, out_account text, out_model text, out_created_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  m record;
BEGIN
  -- Picked without locks, then each locked key, account, task, as a cancel does: the
  -- lock order of every write here, so no deadlock; a task someone else moved first is
  -- no longer pending and is passed over.
  FOR t IN SELECT id, account_id, api_key_id FROM tasks
      WHERE status = 'pending' AND run_after_ms < p_cutoff
      ORDER BY run_after_ms LIMIT p_limit
  LOOP
    PERFORM 1 FROM api_keys WHERE id = t.api_key_id FOR UPDATE;
    PERFORM 1 FROM accounts WHERE id = t.account_id FOR UPDATE;
    UPDATE tasks SET status = 'failed', error_code = p_code, error_message = p_message,
        credits_used_micros = 0, finished_ms = p_now, updated_ms = p_now
      WHERE id = t.id AND status = 'pending'
      RETURNING account_id, api_key_id, credits_reserved_micros, callback_url, model, created_ms INTO m;
    IF NOT FOUND THEN CONTINUE; END IF;
    PERFORM darkroom_settle(t.id, m.account_id, m.api_key_id, m.credits_reserved_micros, 0,
      m.callback_url, 'msg_' || md5(random()::text || clock_timestamp()::text || t.id), p_now);
    out_id := t.id; out_account := m.account_id; out_model := m.model; out_created_ms := m.created_ms;
    RETURN NEXT;
  END LOOP;
END
$$`;

export const taskFunctions: string[] = [
  SUBMIT,
  CLAIM,
  SETTLE,
  FINISH,
  CANCEL,
  MARK_CHANNEL,
  EXPIRE,
];
