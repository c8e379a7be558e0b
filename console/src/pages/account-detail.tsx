/**
 * One account: balance and top-up, its keys (create — the secret is shown once —, limits,
 * revoke) and its ledger.
 */
import { useState } from "preact/hooks";
import { adminApi, query } from "../api";
import { CopyButton } from "../components/copy";
import { Badge, Field, LoadError, Notice, TableWrap, useLoad } from "../components/ui";
import { creditsText, dateTime, errorText } from "../format";
import { go, href } from "../route";
import { setPlaygroundKey } from "../session";
import type { Account, ApiKey, CatalogueModel, LedgerEntry, List } from "../types";

type Msg = { ok: boolean; text: string } | null;

const numberOrNull = (s: string): number | null => (s.trim() === "" ? null : Number(s));

export function AccountDetail(props: { id: string }) {
  const path = `/accounts/${encodeURIComponent(props.id)}`;
  const account = useLoad(() => adminApi<Account>(path), [props.id]);
  const keys = useLoad(() => adminApi<List<ApiKey>>(`${path}/keys`), [props.id]);
  const [ledgerCursor, setLedgerCursor] = useState<string | null>(null);
  const ledger = useLoad(
    () =>
      adminApi<List<LedgerEntry>>(
        `/ledger${query({ account_id: props.id, page_size: 20, cursor: ledgerCursor })}`,
      ),
    [props.id, ledgerCursor],
  );
  const models = useLoad(() => adminApi<List<CatalogueModel>>("/models"), []);
  const [msg, setMsg] = useState<Msg>(null);
  const [created, setCreated] = useState<{ id: string; key: string } | null>(null);
  const a = account.data;

  const refresh = () => {
    account.reload();
    keys.reload();
    ledger.reload();
  };

  async function act(what: () => Promise<unknown>, ok: string) {
    setMsg(null);
    try {
      await what();
      setMsg({ ok: true, text: ok });
      refresh();
    } catch (err) {
      setMsg({ ok: false, text: errorText(err) });
    }
  }

  return (
    <>
      <p>
        <a href={href("accounts")}>← Accounts</a>
      </p>
      <h1 class="break">{a ? `Account ${a.name}` : "Account"}</h1>
      <LoadError error={account.error} what="This account" />
      {a && (
        <dl class="facts">
          <dt>Id</dt>
          <dd>{a.id}</dd>
          <dt>Group</dt>
          <dd>{a.group}</dd>
          <dt>Balance</dt>
          <dd>{creditsText(a.balance)}</dd>
          <dt>Held by running tasks</dt>
          <dd>{creditsText(a.held)}</dd>
          <dt>Available</dt>
          <dd data-testid="available">{creditsText(a.available)}</dd>
          <dt>Used</dt>
          <dd>{creditsText(a.used)}</dd>
          <dt>State</dt>
          <dd>
            {a.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">active</Badge>}{" "}
            <button
              type="button"
              class="secondary small"
              onClick={() =>
                act(
                  () => adminApi(path, { method: "PATCH", body: { disabled: !a.disabled } }),
                  a.disabled ? "Account enabled." : "Account disabled.",
                )
              }
            >
              {a.disabled ? "Enable" : "Disable"}
            </button>
          </dd>
        </dl>
      )}
      {msg && <Notice kind={msg.ok ? "ok" : "error"}>{msg.text}</Notice>}
      {a && <TopUp path={path} onDone={(text) => (setMsg({ ok: true, text }), refresh())} />}

      <h2 id="keys">API keys</h2>
      {created && (
        <div class="card secret" role="status" aria-live="polite">
          <p>
            <strong>New key {created.id}.</strong> Copy it now: it is shown only this once.
          </p>
          <label for="new-key">Key</label>
          <input
            id="new-key"
            readOnly
            value={created.key}
            onFocus={(e) => e.currentTarget.select()}
          />
          <div class="row">
            <CopyButton text={created.key} fallbackId="new-key" />
            <button
              type="button"
              onClick={() => {
                setPlaygroundKey(created.key);
                setCreated(null);
                go("playground");
              }}
            >
              Use in playground
            </button>
            <button type="button" class="secondary" onClick={() => setCreated(null)}>
              Done, hide it
            </button>
          </div>
        </div>
      )}
      <LoadError error={keys.error} what="Keys" />
      {keys.data && keys.data.data.length === 0 && <p>No keys yet.</p>}
      {keys.data && keys.data.data.length > 0 && (
        <TableWrap label="API keys">
          <table>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Limits</th>
                <th scope="col">Used</th>
                <th scope="col">Running</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.data.map((k) => (
                <KeyRow key={k.id} k={k} act={act} />
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <NewKey
        path={path}
        models={models.data?.data.map((m) => m.id) ?? []}
        onCreated={(k) => {
          setCreated(k);
          keys.reload();
        }}
      />

      <h2>Ledger</h2>
      <LoadError error={ledger.error} what="The ledger" />
      {ledger.data && (
        <TableWrap label="Ledger">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">Amount</th>
                <th scope="col">Balance after</th>
                <th scope="col">Held after</th>
                <th scope="col">Task / reason</th>
              </tr>
            </thead>
            <tbody>
              {ledger.data.data.map((e) => (
                <tr key={e.id}>
                  <td>{dateTime(e.created)}</td>
                  <td>{e.kind}</td>
                  <td class="num">{creditsText(e.amount)}</td>
                  <td class="num">{creditsText(e.balance_after)}</td>
                  <td class="num">{creditsText(e.held_after)}</td>
                  <td>
                    {e.task_id ? <a href={href("tasks", e.task_id)}>{e.task_id}</a> : null}{" "}
                    {e.reason}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <div class="row">
        {ledgerCursor && (
          <button type="button" class="secondary" onClick={() => setLedgerCursor(null)}>
            Newest entries
          </button>
        )}
        {ledger.data?.next_cursor && (
          <button
            type="button"
            class="secondary"
            onClick={() => setLedgerCursor(ledger.data!.next_cursor!)}
          >
            Older entries
          </button>
        )}
      </div>
    </>
  );
}

function TopUp(props: { path: string; onDone: (text: string) => void }) {
  const [kind, setKind] = useState("topup");
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  async function submit(e: Event) {
    e.preventDefault();
    setProblem(null);
    try {
      await adminApi(`${props.path}/credits`, {
        body: { kind, amount: amount.trim(), reason: reason.trim() },
      });
      setAmount("");
      setReason("");
      props.onDone(
        kind === "topup" ? `Added ${amount} credits.` : `Adjusted by ${amount} credits.`,
      );
    } catch (err) {
      setProblem(errorText(err));
    }
  }
  return (
    <form class="card inline-form" onSubmit={submit} aria-labelledby="topup-title">
      <h2 id="topup-title">Move credits</h2>
      <div class="field">
        <label for="topup-kind">Kind</label>
        <select id="topup-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
          <option value="topup">Top up</option>
          <option value="adjust">Adjust (may be negative)</option>
        </select>
      </div>
      <div class="field">
        <label for="topup-amount">Amount</label>
        <input
          id="topup-amount"
          inputMode="decimal"
          required
          value={amount}
          onInput={(e) => setAmount(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="topup-reason">Reason</label>
        <input
          id="topup-reason"
          required
          maxLength={500}
          value={reason}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
      </div>
      <button type="submit">Apply</button>
      {problem && <Notice kind="error">{problem}</Notice>}
    </form>
  );
}

function KeyRow(props: { k: ApiKey; act: (what: () => Promise<unknown>, ok: string) => void }) {
  const k = props.k;
  const [confirming, setConfirming] = useState(false);
  const [editing, setEditing] = useState(false);
  const revoked = k.revoked_at !== null;
  const expired = k.expires_at !== null && k.expires_at * 1000 <= Date.now();
  const keyPath = `/keys/${encodeURIComponent(k.id)}`;
  return (
    <>
      <tr data-key-id={k.id}>
        <td>
          <code>{k.prefix}…</code> {k.name && <span>{k.name}</span>}
          <div class="muted">{k.id}</div>
        </td>
        <td>
          <div>Credit limit: {k.unlimited ? "none" : creditsText(k.credit_limit)}</div>
          <div>Requests/min: {k.rpm_limit ?? "—"}</div>
          <div>Concurrent: {k.max_concurrent ?? "—"}</div>
          <div>Models: {k.allowed_models?.join(", ") ?? "all"}</div>
          {k.expires_at && <div>Expires: {dateTime(k.expires_at)}</div>}
        </td>
        <td>
          {creditsText(k.credits_used)}
          {k.credits_held > 0 && <div class="muted">{creditsText(k.credits_held)} held</div>}
        </td>
        <td>{k.active_tasks}</td>
        <td>
          {revoked ? (
            <Badge tone="bad">revoked</Badge>
          ) : expired ? (
            <Badge tone="warn">expired</Badge>
          ) : (
            <Badge tone="ok">active</Badge>
          )}
        </td>
        <td class="actions">
          {!revoked && (
            <button
              type="button"
              class="secondary small"
              onClick={() => setEditing(!editing)}
              aria-expanded={editing}
            >
              Limits
            </button>
          )}
          {!revoked && !confirming && (
            <button type="button" class="danger small" onClick={() => setConfirming(true)}>
              Revoke
            </button>
          )}
          {confirming && (
            <>
              <button
                type="button"
                class="danger small"
                onClick={() => {
                  setConfirming(false);
                  props.act(
                    () => adminApi(`${keyPath}/revoke`, { body: {} }),
                    `Key ${k.prefix}… revoked.`,
                  );
                }}
              >
                Confirm revoke {k.prefix}…
              </button>
              <button type="button" class="secondary small" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </>
          )}
        </td>
      </tr>
      {editing && (
        <tr>
          <td colSpan={6}>
            <LimitsForm
              k={k}
              onSave={(body) => {
                setEditing(false);
                props.act(() => adminApi(keyPath, { method: "PATCH", body }), "Limits saved.");
              }}
            />
          </td>
        </tr>
      )}
    </>
  );
}

function LimitsForm(props: { k: ApiKey; onSave: (body: Record<string, unknown>) => void }) {
  const k = props.k;
  const id = `lim-${k.id}`;
  const [credit, setCredit] = useState(k.credit_limit == null ? "" : String(k.credit_limit));
  const [rpm, setRpm] = useState(k.rpm_limit == null ? "" : String(k.rpm_limit));
  const [conc, setConc] = useState(k.max_concurrent == null ? "" : String(k.max_concurrent));
  return (
    <form
      class="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSave({
          credit_limit: credit.trim() === "" ? null : credit.trim(),
          rpm_limit: numberOrNull(rpm),
          max_concurrent: numberOrNull(conc),
        });
      }}
    >
      <div class="field">
        <label for={`${id}-credit`}>Credit limit (empty: none)</label>
        <input
          id={`${id}-credit`}
          inputMode="decimal"
          value={credit}
          onInput={(e) => setCredit(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for={`${id}-rpm`}>Requests per minute</label>
        <input
          id={`${id}-rpm`}
          type="number"
          min={1}
          value={rpm}
          onInput={(e) => setRpm(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for={`${id}-conc`}>Concurrent tasks</label>
        <input
          id={`${id}-conc`}
          type="number"
          min={1}
          value={conc}
          onInput={(e) => setConc(e.currentTarget.value)}
        />
      </div>
      <button type="submit">Save limits</button>
    </form>
  );
}

function NewKey(props: {
  path: string;
  models: string[];
  onCreated: (k: { id: string; key: string }) => void;
}) {
  const [name, setName] = useState("");
  const [credit, setCredit] = useState("");
  const [rpm, setRpm] = useState("");
  const [conc, setConc] = useState("");
  const [days, setDays] = useState("");
  const [models, setModels] = useState<string[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  async function submit(e: Event) {
    e.preventDefault();
    setProblem(null);
    try {
      const body: Record<string, unknown> = {};
      if (name.trim()) body.name = name.trim();
      if (credit.trim()) body.credit_limit = credit.trim();
      if (rpm.trim()) body.rpm_limit = Number(rpm);
      if (conc.trim()) body.max_concurrent = Number(conc);
      if (days.trim()) body.expires_at = Math.floor(Date.now() / 1000 + Number(days) * 86400);
      if (models.length > 0) body.allowed_models = models;
      const k = await adminApi<ApiKey & { key: string }>(`${props.path}/keys`, { body });
      setName("");
      props.onCreated({ id: k.id, key: k.key });
    } catch (err) {
      setProblem(errorText(err));
    }
  }
  return (
    <form class="card" onSubmit={submit} aria-labelledby="new-key-title">
      <h3 id="new-key-title">Create a key</h3>
      <div class="grid">
        <Field label="Name" id="key-name">
          <input
            id="key-name"
            maxLength={100}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </Field>
        <Field
          label="Credit limit"
          id="key-credit"
          hint="Empty: the account's balance is the limit"
        >
          <input
            id="key-credit"
            inputMode="decimal"
            value={credit}
            onInput={(e) => setCredit(e.currentTarget.value)}
          />
        </Field>
        <Field label="Requests per minute" id="key-rpm">
          <input
            id="key-rpm"
            type="number"
            min={1}
            value={rpm}
            onInput={(e) => setRpm(e.currentTarget.value)}
          />
        </Field>
        <Field label="Concurrent tasks" id="key-conc">
          <input
            id="key-conc"
            type="number"
            min={1}
            value={conc}
            onInput={(e) => setConc(e.currentTarget.value)}
          />
        </Field>
        <Field label="Expires in days" id="key-days" hint="Empty: never">
          <input
            id="key-days"
            type="number"
            min={1}
            value={days}
            onInput={(e) => setDays(e.currentTarget.value)}
          />
        </Field>
      </div>
      {props.models.length > 0 && (
        <fieldset>
          <legend>Models it may use (none ticked: all)</legend>
          {props.models.map((m) => (
            <label key={m} class="check">
              <input
                type="checkbox"
                checked={models.includes(m)}
                onChange={(e) =>
                  setModels((cur) =>
                    e.currentTarget.checked ? [...cur, m] : cur.filter((x) => x !== m),
                  )
                }
              />{" "}
              {m}
            </label>
          ))}
        </fieldset>
      )}
      {problem && <Notice kind="error">{problem}</Notice>}
      <button type="submit">Create key</button>
    </form>
  );
}
