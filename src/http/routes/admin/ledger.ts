/** /admin/v1/ledger: the append-only money trail (paged) and its consistency check. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../app.js";
import { pageQuery, parseBody } from "./parse.js";
import { ledgerView } from "./views.js";

const ledgerQuery = pageQuery.extend({
  account_id: z.string().optional(),
  task_id: z.string().optional(),
});

export type AdminLedgerRouteDeps = Pick<AppDeps, "admin">;

export function adminLedgerRoutes(app: FastifyInstance, deps: AdminLedgerRouteDeps): void {
  app.get("/ledger", async (req) => {
    const q = parseBody(ledgerQuery, req.query);
    const page = await deps.admin.listLedger(
      {
        ...(q.account_id ? { accountId: q.account_id } : {}),
        ...(q.task_id ? { taskId: q.task_id } : {}),
      },
      q.page,
      q.page_size,
    );
    return {
      object: "list",
      data: page.data.map(ledgerView),
      total: page.total,
      page: q.page,
      page_size: q.page_size,
    };
  });

  app.get("/ledger/check", async () => {
    const problems = await deps.admin.checkLedger();
    return { consistent: problems.length === 0, problems };
  });
}
