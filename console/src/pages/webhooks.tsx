/** Callback deliveries with each attempt; a failed one can be re-queued. */
import { useState } from "preact/hooks";
import { adminApi, query } from "../api";
import { LoadError, Notice, StatusBadge, TableWrap, useLoad } from "../components/ui";
import { dateTime, duration, errorText } from "../format";
import { href } from "../route";
import type { Delivery, List } from "../types";

export function Webhooks() {
  const [status, setStatus] = useState("");
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(
    () => adminApi<List<Delivery>>(`/webhooks${query({ status, cursor, page_size: 50 })}`),
    [status, cursor],
  );
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);

  async function retry(d: Delivery) {
    setMsg(null);
    try {
      await adminApi(`/webhooks/${encodeURIComponent(d.id)}/retry`, { body: {} });
      setMsg({ ok: true, text: `Delivery ${d.id} re-queued.` });
      list.reload();
    } catch (err) {
      setMsg({ ok: false, text: errorText(err) });
    }
  }

  return (
    <>
      <h1>Webhook deliveries</h1>
      <div class="toolbar">
        <label for="wh-status">Status</label>
        <select
          id="wh-status"
          value={status}
          onChange={(e) => {
            setCursor(null);
            setStatus(e.currentTarget.value);
          }}
        >
          <option value="">Any</option>
          <option value="pending">pending</option>
          <option value="delivered">delivered</option>
          <option value="failed">failed</option>
        </select>
        <button type="button" class="secondary" onClick={() => list.reload()}>
          Refresh
        </button>
      </div>
      {msg && <Notice kind={msg.ok ? "ok" : "error"}>{msg.text}</Notice>}
      <LoadError error={list.error} what="Webhook deliveries" />
      {list.data && list.data.data.length === 0 && <p>No deliveries.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Webhook deliveries">
          <table>
            <thead>
              <tr>
                <th scope="col">Delivery</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((d) => (
                <tr key={d.id}>
                  <td>
                    {d.id}
                    <div class="muted clip">{d.url}</div>
                    <a href={href("tasks", d.task_id)}>{d.task_id}</a>
                  </td>
                  <td>
                    <StatusBadge status={d.status} />
                    {d.next_attempt_at && (
                      <div class="muted">next {dateTime(d.next_attempt_at)}</div>
                    )}
                  </td>
                  <td>
                    <details>
                      <summary>{d.attempts}</summary>
                      <ol>
                        {d.attempt_list.map((a) => (
                          <li key={a.attempt}>
                            {dateTime(a.created)}: {a.status_code ?? a.error_kind ?? "—"}
                            {a.error_message && ` (${a.error_message})`} in {duration(a.latency_ms)}
                          </li>
                        ))}
                      </ol>
                    </details>
                  </td>
                  <td>
                    {d.last_status_code ?? "—"}
                    {d.last_error && <div class="muted">{d.last_error}</div>}
                  </td>
                  <td>{dateTime(d.created)}</td>
                  <td>
                    {d.status === "failed" && (
                      <button type="button" class="small" onClick={() => retry(d)}>
                        Re-queue
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <div class="row">
        {cursor && (
          <button type="button" class="secondary" onClick={() => setCursor(null)}>
            Newest
          </button>
        )}
        {list.data?.next_cursor && (
          <button
            type="button"
            class="secondary"
            onClick={() => setCursor(list.data!.next_cursor!)}
          >
            Older
          </button>
        )}
      </div>
    </>
  );
}
