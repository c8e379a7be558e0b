/** How the console shows times, durations, money and sizes. */

/** Unix seconds as a local date and time. */
export function dateTime(unixSeconds: number | null | undefined): string {
  if (unixSeconds == null) return "—";
  return new Date(unixSeconds * 1000).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
  });
}

/**
 * The same, compact for a table cell on one line: to the minute, the year only when it
 * is not this year's (a cell gives the full date and time in its title).
 */
export function shortDateTime(unixSeconds: number | null | undefined): string {
  if (unixSeconds == null) return "—";
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleString(undefined, {
    ...(d.getFullYear() === new Date().getFullYear() ? {} : { year: "numeric" }),
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function dateTimeMs(ms: number | null | undefined): string {
  return ms == null ? "—" : dateTime(ms / 1000);
}

export function duration(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function creditsText(n: number | null | undefined): string {
  if (n == null) return "—";
  return n.toLocaleString(undefined, { maximumFractionDigits: 6 });
}

export function percent(x: number | null | undefined): string {
  return x == null ? "—" : `${(x * 100).toFixed(1)} %`;
}

export function bytes(n: number | null | undefined): string {
  if (n == null) return "—";
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
