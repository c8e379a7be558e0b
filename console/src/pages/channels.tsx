/** Upstream channels: health, breaker, load, latency; enable and disable (PATCH). */
import { useState } from "preact/hooks";
import { adminApi } from "../api";
import { Badge, LoadError, Notice, TableWrap, useLoad } from "../components/ui";
import { dateTimeMs, duration, errorText } from "../format";
import type { Channel, List } from "../types";

export function Channels() {
  const list = useLoad(() => adminApi<List<Channel>>("/channels"), [], 5000);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);

  async function toggle(c: Channel) {
    setMsg(null);
    try {
      await adminApi(`/channels/${encodeURIComponent(c.id)}`, {
        method: "PATCH",
        body: { enabled: !c.enabled },
      });
      setMsg({ ok: true, text: `${c.id} ${c.enabled ? "disabled" : "enabled"}.` });
      list.reload();
    } catch (err) {
      setMsg({ ok: false, text: `${c.id}: ${errorText(err)}` });
    }
  }

  return (
    <>
      <h1>Channels</h1>
      <p class="muted">Refreshed every 5 seconds.</p>
      {msg && <Notice kind={msg.ok ? "ok" : "error"}>{msg.text}</Notice>}
      <LoadError error={list.error} what="Channels" />
      {list.data && (
        <TableWrap label="Channels">
          <table>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Model / provider</th>
                <th scope="col">Health</th>
                <th scope="col">Breaker</th>
                <th scope="col">In flight</th>
                <th scope="col">Latency p50 / p95</th>
                <th scope="col">OK / failed</th>
                <th scope="col">Enabled</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((c) => {
                const h = c.health;
                const errors = Object.entries(h.recent_errors);
                return (
                  <tr key={c.id}>
                    <td>
                      {c.id}
                      <div class="muted">
                        {c.source}, priority {c.priority}, weight {c.weight}
                      </div>
                    </td>
                    <td>
                      {c.model}
                      <div class="muted">{c.provider}</div>
                    </td>
                    <td>
                      {h.problem ? (
                        <Badge tone="bad">{h.problem}</Badge>
                      ) : !c.enabled ? (
                        <Badge tone="muted">disabled</Badge>
                      ) : (
                        <Badge tone="ok">usable</Badge>
                      )}
                      {errors.length > 0 && (
                        <div class="muted">
                          Recent errors: {errors.map(([code, n]) => `${code} ×${n}`).join(", ")}
                        </div>
                      )}
                    </td>
                    <td>
                      <Badge
                        tone={h.state === "closed" ? "ok" : h.state === "open" ? "bad" : "warn"}
                      >
                        {h.state.replace("_", " ")}
                      </Badge>
                      {h.open_until && <div class="muted">until {dateTimeMs(h.open_until)}</div>}
                    </td>
                    <td>
                      {h.in_flight}
                      {h.max_concurrency != null && ` / ${h.max_concurrency}`}
                    </td>
                    <td>
                      {duration(h.latency_ms.p50)} / {duration(h.latency_ms.p95)}
                      <div class="muted">{h.latency_ms.samples} samples</div>
                    </td>
                    <td>
                      {h.successes} / {h.failures}
                    </td>
                    <td>
                      {c.source === "admin" ? (
                        <button
                          type="button"
                          class={c.enabled ? "secondary small" : "small"}
                          aria-pressed={c.enabled}
                          aria-label={`${c.enabled ? "Disable" : "Enable"} channel ${c.id}`}
                          onClick={() => toggle(c)}
                        >
                          {c.enabled ? "Disable" : "Enable"}
                        </button>
                      ) : (
                        <>
                          {c.enabled ? "yes" : "no"}
                          {/* Config-file and built-in channels change in the file, not here. */}
                          <div class="muted">
                            read-only ({c.source === "builtin" ? "built in" : "config file"})
                          </div>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}
