/** Plain aligned tables for terminals; `--json` bypasses them. */
export function renderTable(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (rows.length === 0) return "(none)";
  const cell = (v: unknown) =>
    v === null || v === undefined ? "-" : Array.isArray(v) ? v.join(",") : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [
    line(columns.map((c) => c.toUpperCase())),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join("\n");
}

export function output(data: unknown, json: boolean, table: () => string): void {
  process.stdout.write((json ? JSON.stringify(data, null, 2) : table()) + "\n");
}

/** Aligned `name  value` lines for one record (a task), in the order given. */
export function renderRecord(fields: Array<[string, unknown]>): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k.padEnd(width)}  ${v === null ? "-" : String(v)}`)
    .join("\n");
}

/** Unix seconds as an ISO date in UTC (`2026-12-06T14:44:03Z`); the API's times are UTC. */
export function formatUnixTime(s: unknown): string | null {
  if (typeof s !== "number" || !Number.isFinite(s)) return null;
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
