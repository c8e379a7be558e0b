/** The overview: traffic, success, money, durations and queues (GET /admin/v1/stats). */
import { adminApi, query } from "../api";
import { BarChart, LineChart } from "../components/charts";
import { Badge, LoadError, TableWrap, useLoad } from "../components/ui";
import { creditsText, duration, percent } from "../format";
import type { Channel, List, ProcessStatus, Stats } from "../types";
import { useState } from "preact/hooks";

const WINDOWS = [15, 60, 360, 1440];

function minuteLabel(minute: number): string {
  // `minute` is unix minutes (or seconds at a minute boundary): show local HH:MM.
  const ms = minute > 1e11 ? minute : minute > 1e8 ? minute * 1000 : minute * 60_000;
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function Overview() {
  const [minutes, setMinutes] = useState(60);
  const stats = useLoad(() => adminApi<Stats>(`/stats${query({ minutes })}`), [minutes], 10_000);
  const status = useLoad(() => adminApi<ProcessStatus>("/status"), [], 10_000);
  const channels = useLoad(() => adminApi<List<Channel>>("/channels"), [], 10_000);
  const s = stats.data;
  const open = channels.data?.data.filter((c) => c.health.state !== "closed").length ?? 0;

  return (
    <>
      <h1>Overview</h1>
      <div class="toolbar">
        <label for="window">Window</label>
        <select
          id="window"
          value={minutes}
          onChange={(e) => setMinutes(Number(e.currentTarget.value))}
        >
          {WINDOWS.map((m) => (
            <option key={m} value={m}>
              {m < 60 ? `${m} minutes` : `${m / 60} hour${m > 60 ? "s" : ""}`}
            </option>
          ))}
        </select>
      </div>
      <section class="tiles" aria-label="Figures">
        <div class="tile">
          <span class="tile-label">Success rate</span>
          <span class="tile-value">{s ? percent(s.success_rate) : "—"}</span>
        </div>
        <div class="tile">
          <span class="tile-label">Credits spent</span>
          <span class="tile-value">{s ? creditsText(s.credits_spent) : "—"}</span>
        </div>
        <div class="tile">
          <span class="tile-label">In flight</span>
          <span class="tile-value">
            {s ? s.in_flight : status.data?.runner ? status.data.runner.in_flight : "—"}
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">Queued</span>
          <span class="tile-value">
            {s ? Object.values(s.queue_depth).reduce((a, b) => a + b, 0) : "—"}
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">Channels not closed</span>
          <span class="tile-value">{channels.data ? open : "—"}</span>
        </div>
        <div class="tile">
          <span class="tile-label">This process</span>
          <span class="tile-value tile-small">{status.data ? status.data.role : "—"}</span>
        </div>
      </section>
      <LoadError error={stats.error} what="Charts of tasks, success and durations" />
      <LoadError error={status.error} what="Process status" />
      {s && (
        <div class="charts">
          <LineChart
            title={`Tasks per minute, last ${s.window_minutes} minutes`}
            labels={s.per_minute.map((p) => minuteLabel(p.minute))}
            series={[
              { name: "Submitted", tone: "s-info", values: s.per_minute.map((p) => p.submitted) },
              { name: "Completed", tone: "s-ok", values: s.per_minute.map((p) => p.completed) },
              { name: "Failed", tone: "s-bad", values: s.per_minute.map((p) => p.failed) },
            ]}
          />
          <BarChart
            title="Duration by model and channel (p50, p95)"
            bars={s.durations.map((d) => ({
              label: `${d.model} · ${d.channel_id} (${d.count})`,
              values: [d.p50_ms, d.p95_ms],
            }))}
            series={[
              { name: "p50", tone: "s-info" },
              { name: "p95", tone: "s-warn" },
            ]}
            format={duration}
          />
          {Object.keys(s.queue_depth).length === 0 ? (
            <figure class="chart">
              <figcaption>Queue depth by model</figcaption>
              <p>No task is waiting.</p>
            </figure>
          ) : (
            <BarChart
              title="Queue depth by model"
              bars={Object.entries(s.queue_depth).map(([model, n]) => ({
                label: model,
                values: [n],
              }))}
              series={[{ name: "Pending tasks", tone: "s-muted" }]}
              format={(v) => String(v)}
            />
          )}
        </div>
      )}
      {channels.data && (
        <section>
          <h2>Channels</h2>
          <TableWrap label="Channel health">
            <table>
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col">Model</th>
                  <th scope="col">Breaker</th>
                  <th scope="col">In flight</th>
                  <th scope="col">p50 / p95</th>
                </tr>
              </thead>
              <tbody>
                {channels.data.data.map((c) => (
                  <tr key={c.id}>
                    <td>{c.id}</td>
                    <td>{c.model}</td>
                    <td>
                      <Badge
                        tone={
                          c.health.state === "closed"
                            ? "ok"
                            : c.health.state === "open"
                              ? "bad"
                              : "warn"
                        }
                      >
                        {c.health.state.replace("_", " ")}
                      </Badge>
                    </td>
                    <td>{c.health.in_flight}</td>
                    <td>
                      {duration(c.health.latency_ms.p50)} / {duration(c.health.latency_ms.p95)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </section>
      )}
    </>
  );
}
