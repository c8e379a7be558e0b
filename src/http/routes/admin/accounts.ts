/** /admin/v1/accounts: create, list, get, change group, disable, move credits. */
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../../core/errors.js";
import type { AdminResult } from "../../../store/admin.js";
import type { AppDeps } from "../../app.js";
import { decodeRowCursor, encodeRowCursor } from "../../../core/paging.js";
import { credits, listAnswer, listStart, pageQuery, parseBody } from "./parse.js";
import { audit } from "../../plugins/admin-audit.js";
import { accountView, ledgerView, moneyMove } from "./views.js";

export const createBody = z
  .object({
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9._@-]+$/, "may hold letters, digits and . _ @ -"),
    group: z.string().min(1).default("default"),
    credits: credits().optional(),
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

export const patchBody = z
  .object({ group: z.string().min(1).optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((b) => b.group !== undefined || b.disabled !== undefined, "give group or disabled");

export const creditsBody = z
  .object({
    kind: z.enum(["topup", "adjust"]).default("topup"),
    amount: credits({ allowNegative: true }),
    reason: z.string().trim().min(1, "a reason is required").max(500),
  })
  .strict()
  .refine((b) => b.kind === "adjust" || b.amount > 0, {
    message: "a top-up must be positive",
    path: ["amount"],
  })
  .refine((b) => b.amount !== 0, { message: "must not be zero", path: ["amount"] });

export function unwrap<T>(r: AdminResult<T>, what: string): T {
  if (r.ok) return r.value;
  switch (r.reason) {
    case "not_found":
      throw new ApiError("not_found", `No such ${what}.`);
    case "conflict":
      throw new ApiError("conflict", `That ${what} already exists.`);
    case "group_not_found":
      throw new ApiError("invalid_request", "No such group.", { param: "group" });
    case "would_go_below_held":
      throw new ApiError(
        "invalid_request",
        "The adjustment would leave the balance below what running tasks hold.",
        { param: "amount" },
      );
  }
}

export type AdminAccountRouteDeps = Pick<AppDeps, "admin" | "keys">;

export function adminAccountRoutes(app: FastifyInstance, deps: AdminAccountRouteDeps): void {
  app.get("/accounts", async (req) => {
    const q = parseBody(pageQuery, req.query);
    const start = listStart(q, (c) => decodeRowCursor("accounts", c));
    const page = await deps.admin.listAccounts({ pageSize: q.page_size, start });
    return listAnswer(q, start, page, accountView, (p) => encodeRowCursor("accounts", p));
  });

  app.post("/accounts", async (req) => {
    const b = parseBody(createBody, req.body);
    const now = Date.now();
    const account = unwrap(
      await deps.admin.createAccount({
        id: `acct_${randomBytes(8).toString("hex")}`,
        name: b.name,
        group: b.group,
        webhookSecret: `whsec_${randomBytes(24).toString("base64")}`,
        nowMs: now,
      }),
      "account",
    );
    audit(req, { accountId: account.id, name: account.name, group: account.group });
    if (b.credits) {
      const entry = unwrap(
        await deps.admin.moveCredits(account.id, {
          kind: "topup",
          amountMicros: b.credits,
          reason: b.reason ?? "initial credits",
          nowMs: now,
        }),
        "account",
      );
      audit(req, moneyMove(entry));
    }
    return accountView((await deps.admin.getAccount(account.id))!);
  });

  app.get<{ Params: { id: string } }>("/accounts/:id", async (req) => {
    const a = await deps.admin.getAccount(req.params.id);
    if (!a) throw new ApiError("not_found", "No such account.");
    return accountView(a);
  });

  app.patch<{ Params: { id: string } }>("/accounts/:id", async (req) => {
    const b = parseBody(patchBody, req.body);
    const before = await deps.admin.getAccount(req.params.id);
    const a = unwrap(await deps.admin.updateAccount(req.params.id, b, Date.now()), "account");
    if (before)
      audit(req, {
        before: { group: before.group, disabled: before.disabled },
        after: { group: a.group, disabled: a.disabled },
      });
    deps.keys.forgetAll(); // group and disabled flag ride on cached key lookups
    return accountView(a);
  });

  app.post<{ Params: { id: string } }>("/accounts/:id/credits", async (req) => {
    const b = parseBody(creditsBody, req.body);
    const entry = unwrap(
      await deps.admin.moveCredits(req.params.id, {
        kind: b.kind,
        amountMicros: b.amount,
        reason: b.reason,
        nowMs: Date.now(),
      }),
      "account",
    );
    audit(req, moneyMove(entry));
    return {
      entry: ledgerView(entry),
      account: accountView((await deps.admin.getAccount(req.params.id))!),
    };
  });
}
