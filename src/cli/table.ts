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
