/** `darkroom accounts|keys|ledger ...`: thin wrappers over the admin API. */
import type { Command } from "commander";
import { adminCall, resolveTarget } from "./admin-client.js";
import { output, renderTable } from "./table.js";

type Row = Record<string, unknown>;
interface GlobalOpts {
  url?: string;
  token?: string;
  json?: boolean;
}

const ACCOUNT_COLUMNS = ["id", "name", "group", "balance", "held", "available", "used", "disabled"];
const KEY_COLUMNS = [
  "id",
  "name",
  "prefix",
  "allowed_models",
  "credit_limit",
  "rpm_limit",
  "max_concurrent",
  "expires_at",
  "revoked_at",
];
const LEDGER_COLUMNS = [
  "id",
  "created",
  "account_id",
  "kind",
  "amount",
  "balance_after",
  "held_after",
  "task_id",
  "reason",
];

function target(cmd: Command) {
  const o = cmd.optsWithGlobals<GlobalOpts>();
  return {
    t: resolveTarget({ ...(o.url ? { url: o.url } : {}), ...(o.token ? { token: o.token } : {}) }),
    json: Boolean(o.json),
  };
}

const optionalNumber = (v: string | undefined) =>
  v === undefined ? undefined : v === "none" ? null : Number(v);

function keySettings(o: Record<string, string | undefined>): Row {
  const body: Row = {};
  if (o.name !== undefined) body.name = o.name;
  if (o.models !== undefined)
    body.allowed_models = o.models === "all" ? null : o.models.split(",").filter(Boolean);
  if (o.creditLimit !== undefined)
    body.credit_limit = o.creditLimit === "unlimited" ? null : o.creditLimit;
  if (o.rpm !== undefined) body.rpm_limit = optionalNumber(o.rpm);
  if (o.maxConcurrent !== undefined) body.max_concurrent = optionalNumber(o.maxConcurrent);
  if (o.expiresAt !== undefined) body.expires_at = optionalNumber(o.expiresAt);
  return body;
}

interface ListAnswer {
  data: Row[];
  total: number;
  total_capped: boolean;
  next_cursor: string | null;
}

function listParams(o: { page?: string; pageSize?: string; cursor?: string }): URLSearchParams {
  const q = new URLSearchParams({ page_size: o.pageSize ?? "50" });
  if (o.cursor) q.set("cursor", o.cursor);
  else q.set("page", o.page ?? "1");
  return q;
}

/** "12 account(s)" or "at least 10000 entries", and how to read on. */
function listFooter(r: ListAnswer, what: string): string {
  const total = `${r.total_capped ? "at least " : ""}${r.total} ${what}`;
  return r.next_cursor ? `${total}; next page: --cursor ${r.next_cursor}` : total;
}

export function registerAdminCommands(program: Command): void {
  const accounts = program.command("accounts").description("manage accounts through the admin API");
  accounts
    .command("list")
    .option("--page <n>", "page (the first 1000 accounts; then --cursor)", "1")
    .option("--page-size <n>", "page size", "50")
    .option("--cursor <cursor>", "the page after this next_cursor of an earlier page")
    .action(async (o: { page: string; pageSize: string; cursor?: string }, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<ListAnswer>(t, "GET", `/accounts?${listParams(o)}`);
      output(
        r,
        json,
        () => `${renderTable(r.data, ACCOUNT_COLUMNS)}\n${listFooter(r, "account(s)")}`,
      );
    });
  accounts
    .command("create <name>")
    .option("--group <group>", "price group", "default")
    .option("--credits <amount>", "initial credits")
    .option("--reason <text>", "ledger reason for the initial credits")
    .action(async (name: string, o: Record<string, string | undefined>, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<Row>(t, "POST", "/accounts", {
        name,
        group: o.group,
        ...(o.credits ? { credits: o.credits } : {}),
        ...(o.reason ? { reason: o.reason } : {}),
      });
      output(r, json, () => renderTable([r], ACCOUNT_COLUMNS));
    });
  accounts.command("get <id>").action(async (id: string, _o: unknown, cmd: Command) => {
    const { t, json } = target(cmd);
    const r = await adminCall<Row>(t, "GET", `/accounts/${encodeURIComponent(id)}`);
    output(r, json, () => renderTable([r], ACCOUNT_COLUMNS));
  });
  for (const [verb, kind] of [
    ["topup", "topup"],
    ["adjust", "adjust"],
  ] as const) {
    accounts
      .command(`${verb} <id> <amount>`)
      .requiredOption("--reason <text>", "why (recorded in the ledger)")
      .action(async (id: string, amount: string, o: { reason: string }, cmd: Command) => {
        const { t, json } = target(cmd);
        const r = await adminCall<{ account: Row }>(
          t,
          "POST",
          `/accounts/${encodeURIComponent(id)}/credits`,
          {
            kind,
            amount,
            reason: o.reason,
          },
        );
        output(r, json, () => renderTable([r.account], ACCOUNT_COLUMNS));
      });
  }
  accounts
    .command("set-group <id> <group>")
    .action(async (id: string, group: string, _o: unknown, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<Row>(t, "PATCH", `/accounts/${encodeURIComponent(id)}`, { group });
      output(r, json, () => renderTable([r], ACCOUNT_COLUMNS));
    });
  for (const [verb, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const) {
    accounts.command(`${verb} <id>`).action(async (id: string, _o: unknown, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<Row>(t, "PATCH", `/accounts/${encodeURIComponent(id)}`, {
        disabled,
      });
      output(r, json, () => renderTable([r], ACCOUNT_COLUMNS));
    });
  }

  const keys = program.command("keys").description("manage API keys through the admin API");
  const withKeyOptions = (c: Command) =>
    c
      .option("--name <name>", "label")
      .option("--models <list>", "comma-separated allow-list, or 'all'")
      .option("--credit-limit <amount>", "the key's own credit limit, or 'unlimited'")
      .option("--rpm <n>", "requests per minute, or 'none'")
      .option("--max-concurrent <n>", "tasks in progress at once, or 'none'")
      .option("--expires-at <unix>", "expiry (unix seconds), or 'none'");
  keys.command("list <accountId>").action(async (accountId: string, _o: unknown, cmd: Command) => {
    const { t, json } = target(cmd);
    const r = await adminCall<{ data: Row[] }>(
      t,
      "GET",
      `/accounts/${encodeURIComponent(accountId)}/keys`,
    );
    output(r, json, () => renderTable(r.data, KEY_COLUMNS));
  });
  withKeyOptions(keys.command("create <accountId>")).action(
    async (accountId: string, o: Record<string, string | undefined>, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<Row>(
        t,
        "POST",
        `/accounts/${encodeURIComponent(accountId)}/keys`,
        keySettings(o),
      );
      output(
        r,
        json,
        () => `${renderTable([r], KEY_COLUMNS)}\n\nAPI key (shown once): ${String(r.key)}`,
      );
    },
  );
  withKeyOptions(keys.command("update <keyId>")).action(
    async (keyId: string, o: Record<string, string | undefined>, cmd: Command) => {
      const { t, json } = target(cmd);
      const r = await adminCall<Row>(
        t,
        "PATCH",
        `/keys/${encodeURIComponent(keyId)}`,
        keySettings(o),
      );
      output(r, json, () => renderTable([r], KEY_COLUMNS));
    },
  );
  keys.command("revoke <keyId>").action(async (keyId: string, _o: unknown, cmd: Command) => {
    const { t, json } = target(cmd);
    const r = await adminCall<Row>(t, "POST", `/keys/${encodeURIComponent(keyId)}/revoke`, {});
    output(r, json, () => renderTable([r], KEY_COLUMNS));
  });

  const ledger = program.command("ledger").description("read the credit ledger");
  ledger
    .command("list")
    .option("--account <id>", "only this account")
    .option("--task <id>", "only this task")
    .option("--page <n>", "page (the first 1000 entries; then --cursor)", "1")
    .option("--page-size <n>", "page size", "50")
    .option("--cursor <cursor>", "the page after this next_cursor of an earlier page")
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const { t, json } = target(cmd);
      const q = listParams(o);
      if (o.account) q.set("account_id", o.account);
      if (o.task) q.set("task_id", o.task);
      const r = await adminCall<ListAnswer>(t, "GET", `/ledger?${q}`);
      output(r, json, () => `${renderTable(r.data, LEDGER_COLUMNS)}\n${listFooter(r, "entries")}`);
    });
  ledger.command("check").action(async (_o: unknown, cmd: Command) => {
    const { t, json } = target(cmd);
    const r = await adminCall<{ consistent: boolean; problems: Row[] }>(t, "GET", "/ledger/check");
    output(r, json, () =>
      r.consistent
        ? "ledger consistent: every balance derives from the ledger"
        : renderTable(r.problems, ["accountId", "problem"]),
    );
    if (!r.consistent) process.exitCode = 1;
  });
}
