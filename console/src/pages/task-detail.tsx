/** One task: what was asked, what happened when (timeline), money, results and callbacks. */
import { useState } from "preact/hooks";
import { adminApi } from "../api";
import { LoadError, Notice, StatusBadge, TableWrap, useLoad } from "../components/ui";
import { creditsText, dateTime, dateTimeMs, duration, errorText } from "../format";
import { href } from "../route";
import type { AdminTaskDetail } from "../types";

const TERMINAL = new Set(["completed", "failed"]);

export function TaskDetail(props: { id: string }) {
  const task = useLoad(
    () => adminApi<AdminTaskDetail>(`/tasks/${encodeURIComponent(props.id)}`),
    [props.id],
  );
  const [action, setAction] = useState<{ ok: boolean; text: string } | null>(null);
  const t = task.data;

  async function cancel() {
    try {
      await adminApi(`/tasks/${encodeURIComponent(props.id)}/cancel`, { method: "POST", body: {} });
      setAction({ ok: true, text: "Cancellation requested." });
      task.reload();
    } catch (err) {
      setAction({ ok: false, text: errorText(err) });
    }
  }

  return (
    <>
      <p>
        <a href={href("tasks")}>← Tasks</a>
      </p>
      <h1 class="break">Task {props.id}</h1>
      <LoadError error={task.error} what="Task details" />
      {t && (
        <>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={t.status} /> {t.progress} %
            </dd>
            <dt>Model</dt>
            <dd>{t.model}</dd>
            <dt>Account</dt>
            <dd>
              <a href={href("accounts", t.account_id)}>{t.account_id}</a>
              {t.api_key_id && <span class="muted"> key {t.api_key_id}</span>}
            </dd>
            <dt>Channel</dt>
            <dd>{t.channel_id ?? "—"}</dd>
            <dt>Created</dt>
            <dd>{dateTime(t.created_at)}</dd>
            <dt>Finished</dt>
            <dd>{dateTime(t.finished_at)}</dd>
            <dt>Duration</dt>
            <dd>{duration(t.duration_ms)}</dd>
            <dt>Charge</dt>
            <dd>
              {creditsText(t.credits_used)} used of {creditsText(t.credits_reserved)} reserved
            </dd>
          </dl>
          {t.error && (
            <Notice kind="error">
              <strong>{t.error.code}</strong>: {t.error.message}
            </Notice>
          )}
          {!TERMINAL.has(t.status) && (
            <button type="button" class="danger" onClick={cancel}>
              Cancel task
            </button>
          )}
          {action && <Notice kind={action.ok ? "ok" : "error"}>{action.text}</Notice>}
          <h2>Prompt</h2>
          <p class="prompt">{t.prompt}</p>
          {t.results.length > 0 && (
            <>
              <h2>Results</h2>
              <ul class="gallery">
                {t.results.map((url, i) => (
                  <li key={url}>
                    <a href={url} target="_blank" rel="noopener noreferrer">
                      <img src={url} alt={`Result ${i + 1} of task ${t.id}`} loading="lazy" />
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )}
          <h2>Timeline</h2>
          <ol class="timeline">
            {t.timeline.map((e, i) => (
              <li key={i}>
                <time>{dateTimeMs(e.at_ms)}</time> <strong>{e.event.replace("_", " ")}</strong>
                {e.channel_id && <> on {e.channel_id}</>}
                {e.outcome && <> — {e.outcome}</>}
                {e.error_code && <> ({e.error_code})</>}
                {e.duration_ms != null && <> in {duration(e.duration_ms)}</>}
              </li>
            ))}
          </ol>
          <h2>Callbacks</h2>
          {t.callbacks.length === 0 ? (
            <p>No callback for this task.</p>
          ) : (
            t.callbacks.map((c) => (
              <TableWrap label={`Callback ${c.id}`} key={c.id}>
                <table>
                  <caption>
                    Delivery {c.id} <StatusBadge status={c.status} />
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">HTTP</th>
                      <th scope="col">Error</th>
                      <th scope="col">Took</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.attempts.map((a, i) => (
                      <tr key={i}>
                        <td>{dateTimeMs(a.at_ms)}</td>
                        <td>{a.status_code ?? "—"}</td>
                        <td>{a.error ?? "—"}</td>
                        <td>{duration(a.duration_ms)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableWrap>
            ))
          )}
          <details>
            <summary>Request</summary>
            <pre>{JSON.stringify(t.request, null, 2)}</pre>
          </details>
        </>
      )}
    </>
  );
}
