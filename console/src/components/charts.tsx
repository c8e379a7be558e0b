/**
 * Hand-written SVG charts: a few hundred bytes each instead of a chart library. Every
 * chart has a text title and a table of its numbers for screen readers (and anyone
 * who wants the figures).
 */
import type { ComponentChildren } from "preact";

export interface Series {
  name: string;
  /** A CSS class giving its colour (style.css: .s-ok, .s-bad, .s-info, .s-muted). */
  tone: string;
  values: number[];
}

const W = 640;
const H = 200;
const PAD = { left: 36, right: 8, top: 10, bottom: 22 };

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function Figure(props: { title: string; table: ComponentChildren; children: ComponentChildren }) {
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      {props.children}
      <details>
        <summary>Numbers</summary>
        {props.table}
      </details>
    </figure>
  );
}

/** Lines over time: `labels` along the x axis, one line per series. */
export function LineChart(props: { title: string; labels: string[]; series: Series[] }) {
  const n = props.labels.length;
  const max = niceMax(Math.max(0, ...props.series.flatMap((s) => s.values)));
  const x = (i: number) => PAD.left + (n <= 1 ? 0 : (i * (W - PAD.left - PAD.right)) / (n - 1));
  const y = (v: number) => PAD.top + (1 - v / max) * (H - PAD.top - PAD.bottom);
  const ticks = [0, max / 2, max];
  const table = (
    <table>
      <thead>
        <tr>
          <th scope="col">Time</th>
          {props.series.map((s) => (
            <th scope="col" key={s.name}>
              {s.name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.labels.map((label, i) => (
          <tr key={label}>
            <th scope="row">{label}</th>
            {props.series.map((s) => (
              <td key={s.name}>{s.values[i] ?? 0}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <Figure title={props.title} table={table}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.title} class="chart-svg">
        {ticks.map((t) => (
          <g key={t}>
            <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
            <text class="tick" x={PAD.left - 4} y={y(t) + 4} text-anchor="end">
              {Number.isInteger(t) ? t : t.toFixed(1)}
            </text>
          </g>
        ))}
        {n > 0 && (
          <>
            <text class="tick" x={PAD.left} y={H - 4}>
              {props.labels[0]}
            </text>
            <text class="tick" x={W - PAD.right} y={H - 4} text-anchor="end">
              {props.labels[n - 1]}
            </text>
          </>
        )}
        {props.series.map((s) => (
          <polyline
            key={s.name}
            class={`line ${s.tone}`}
            points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ")}
          />
        ))}
      </svg>
      <ul class="legend">
        {props.series.map((s) => (
          <li key={s.name}>
            <span class={`swatch ${s.tone}`} aria-hidden="true" /> {s.name}
          </li>
        ))}
      </ul>
    </Figure>
  );
}

export interface Bar {
  label: string;
  values: number[];
}

/** Horizontal bars, one group per row (e.g. p50 and p95 of one model and channel). */
export function BarChart(props: {
  title: string;
  bars: Bar[];
  series: Array<{ name: string; tone: string }>;
  format: (v: number) => string;
}) {
  const max = niceMax(Math.max(0, ...props.bars.flatMap((b) => b.values)));
  const rowH = 10 * props.series.length + 14;
  const labelW = 220;
  const height = Math.max(rowH * props.bars.length, rowH);
  const table = (
    <table>
      <thead>
        <tr>
          <th scope="col">Row</th>
          {props.series.map((s) => (
            <th scope="col" key={s.name}>
              {s.name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.bars.map((b) => (
          <tr key={b.label}>
            <th scope="row">{b.label}</th>
            {b.values.map((v, i) => (
              <td key={i}>{props.format(v)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <Figure title={props.title} table={table}>
      <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-label={props.title} class="chart-svg">
        {props.bars.map((b, row) => (
          <g key={b.label} transform={`translate(0 ${row * rowH})`}>
            <text class="tick" x={0} y={12}>
              {b.label.length > 34 ? `${b.label.slice(0, 33)}…` : b.label}
            </text>
            {b.values.map((v, i) => (
              <g key={i}>
                <rect
                  class={`bar ${props.series[i]?.tone ?? ""}`}
                  x={labelW}
                  y={2 + i * 10}
                  height={8}
                  width={Math.max(1, (v / max) * (W - labelW - 70))}
                />
                <text class="tick" x={labelW + (v / max) * (W - labelW - 70) + 4} y={10 + i * 10}>
                  {props.format(v)}
                </text>
              </g>
            ))}
          </g>
        ))}
      </svg>
      <ul class="legend">
        {props.series.map((s) => (
          <li key={s.name}>
            <span class={`swatch ${s.tone}`} aria-hidden="true" /> {s.name}
          </li>
        ))}
      </ul>
    </Figure>
  );
}
