/** `darkroom channels ...`: channel health at a glance, and switching admin-defined channels on and off. */
import type { Command } from "commander";
import { adminCall, resolveTarget } from "./admin-client.js";
import { output, renderTable } from "./table.js";

type Row = Record<string, unknown>;
interface Channel extends Row {
  health: {
    state: string;
    in_flight: number;
    max_concurrency: number | null;
    latency_ms: { p50: number | null; p95: number | null };
    successes: number;
    failures: number;
    last_error: { code: string } | null;
    problem: string | null;
  };
}

const COLUMNS = [
  "id",
  "model",
  "provider",
  "source",
  "priority",
  "weight",
  "enabled",
  "state",
  "in_flight",
  "p50_ms",
  "p95_ms",
  "ok",
  "failed",
  "last_error",
];

function target(cmd: Command) {
  const o = cmd.optsWithGlobals<{ url?: string; token?: string; json?: boolean }>();
  return {
    t: resolveTarget({ ...(o.url ? { url: o.url } : {}), ...(o.token ? { token: o.token } : {}) }),
    json: Boolean(o.json),
  };
}

function flat(c: Channel): Row {
  const h = c.health;
  return {
    ...c,
    state: h.problem ? `${h.state} (${h.problem})` : h.state,
    in_flight: `${h.in_flight}/${h.max_concurrency ?? "∞"}`,
    p50_ms: h.latency_ms.p50,
    p95_ms: h.latency_ms.p95,
    ok: h.successes,
    failed: h.failures,
    last_error: h.last_error?.code ?? null,
  };
}

export function registerChannelCommands(program: Command): void {
  const channels = program
    .command("channels")
    .description("upstream channels and their health, through the admin API");
  channels
    .command("list")
    .option("--model <id>", "only this model's channels")
    .action(async (o: { model?: string }, cmd: Command) => {
      const { t, json } = target(cmd);
      const q = o.model ? `?model=${encodeURIComponent(o.model)}` : "";
      const r = await adminCall<{ data: Channel[] }>(t, "GET", `/channels${q}`);
      output(r, json, () => renderTable(r.data.map(flat), COLUMNS));
    });
  channels.command("get <id>").action(async (id: string, _o: unknown, cmd: Command) => {
    const { t, json } = target(cmd);
    const r = await adminCall<Channel>(t, "GET", `/channels/${encodeURIComponent(id)}`);
    output(r, json, () => renderTable([flat(r)], COLUMNS));
  });
  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    channels.command(`${verb} <id>`).action(async (id: string, _o: unknown, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<Channel>(t, "PATCH", `/channels/${encodeURIComponent(id)}`, {
        enabled,
      });
      output(r, json, () => renderTable([flat(r)], COLUMNS));
    });
  }
}
