/** Every account's tasks, newest first, with filters (GET /admin/v1/tasks). */
import { useState } from "preact/hooks";
import { adminApi, query } from "../api";
import { LoadError, StatusBadge, TableWrap, useLoad } from "../components/ui";
import { creditsText, dateTime, duration, shortDateTime } from "../format";
import { href } from "../route";
import type { AdminTask, CatalogueModel, List } from "../types";

interface Filters {
  status: string;
  model: string;
  account_id: string;
  channel_id: string;
}

const EMPTY: Filters = { status: "", model: "", account_id: "", channel_id: "" };

export function Tasks() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [pages, setPages] = useState<AdminTask[][]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const models = useLoad(() => adminApi<List<CatalogueModel>>("/models"), []);
  const first = useLoad(async () => {
    const page = await adminApi<List<AdminTask>>(`/tasks${query({ ...filters, limit: 50 })}`);
    setPages([]);
    setCursor(page.next_cursor ?? null);
    return page;
  }, [filters]);
  const [moreError, setMoreError] = useState<unknown>(null);

  async function more() {
    if (!cursor) return;
    try {
      const page = await adminApi<List<AdminTask>>(
        `/tasks${query({ ...filters, limit: 50, cursor })}`,
      );
      setPages((p) => [...p, page.data]);
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setMoreError(err);
    }
  }

  const rows = [...(first.data?.data ?? []), ...pages.flat()];
  const set = (k: keyof Filters) => (e: Event) =>
    setDraft((d) => ({ ...d, [k]: (e.currentTarget as HTMLInputElement).value }));

  return (
    <>
      <h1>Tasks</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...draft });
        }}
        aria-label="Filter tasks"
      >
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" value={draft.status} onChange={set("status")}>
            <option value="">Any</option>
            {["pending", "processing", "completed", "failed"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-model">Model</label>
          <select id="f-model" value={draft.model} onChange={set("model")}>
            <option value="">Any</option>
            {models.data?.data.map((m) => (
              <option key={m.id}>{m.id}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-account">Account id</label>
          <input id="f-account" value={draft.account_id} onInput={set("account_id")} />
        </div>
        <div class="field">
          <label for="f-channel">Channel id</label>
          <input id="f-channel" value={draft.channel_id} onInput={set("channel_id")} />
        </div>
        <button type="submit">Apply</button>
        <button type="button" class="secondary" onClick={() => first.reload()}>
          Refresh
        </button>
      </form>
      <LoadError error={first.error} what="The task list" />
      {first.data && rows.length === 0 && <p>No tasks match.</p>}
      {rows.length > 0 && (
        <TableWrap label="Tasks">
          <table class="tasks">
            <thead>
              <tr>
                <th scope="col">
                  <span class="sr-only">Image</span>
                </th>
                <th scope="col">Task</th>
                <th scope="col">Status</th>
                <th scope="col">Model</th>
                <th scope="col">Account</th>
                <th scope="col">Created</th>
                <th scope="col">Duration</th>
                <th scope="col">Credits</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={t.id}>
                  <td class="thumb">
                    {t.thumbnail_url ? (
                      <img src={t.thumbnail_url} alt="" width={48} height={48} loading="lazy" />
                    ) : (
                      <span class="thumb-empty" aria-hidden="true" />
                    )}
                  </td>
                  <td>
                    <a class="nowrap" href={href("tasks", t.id)}>
                      {t.id}
                    </a>
                    <div class="muted clip" title={t.prompt}>
                      {t.prompt}
                    </div>
                  </td>
                  <td>
                    <StatusBadge status={t.status} />
                    {t.error && <div class="muted error-code">{t.error.code}</div>}
                  </td>
                  <td class="nowrap">{t.model}</td>
                  <td>
                    <a href={href("accounts", t.account_id)}>{t.account_id}</a>
                  </td>
                  <td class="nowrap" title={dateTime(t.created_at)}>
                    {shortDateTime(t.created_at)}
                  </td>
                  <td>{duration(t.duration_ms)}</td>
                  <td>
                    {creditsText(t.credits_used ?? t.credits_reserved)}
                    {t.credits_used == null && <span class="muted"> held</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadError error={moreError} what="More tasks" />
      {cursor && (
        <button type="button" class="secondary" onClick={more}>
          Load more
        </button>
      )}
    </>
  );
}
