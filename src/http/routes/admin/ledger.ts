/** /admin/v1/ledger: the append-only money trail (paged) and its consistency check. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppDeps } from "../../app.js";
import { decodeListCursor, encodeListCursor } from "../../../core/paging.js";
import type { LedgerPosition } from "../../../store/admin.js";
import { listAnswer, listStart, pageQuery, parseBody } from "./parse.js";
import { ledgerView } from "./views.js";

export const ledgerQuery = pageQuery.extend({
  account_id: z.string().optional(),
  task_id: z.string().optional(),
});

function decodeLedgerCursor(cursor: string): LedgerPosition | null {
  const parts = decodeListCursor("ledger", cursor);
  const id = parts?.length === 1 ? parts[0] : undefined;
  return typeof id === "number" && id > 0 ? { id } : null;
}

export type AdminLedgerRouteDeps = Pick<AppDeps, "admin">;

export function adminLedgerRoutes(app: FastifyInstance, deps: AdminLedgerRouteDeps): void {
  app.get("/ledger", async (req) => {
    const q = parseBody(ledgerQuery, req.query);
    const start = listStart(q, decodeLedgerCursor);
    const page = await deps.admin.listLedger(
      {
        ...(q.account_id ? { accountId: q.account_id } : {}),
        ...(q.task_id ? { taskId: q.task_id } : {}),
      },
      { pageSize: q.page_size, start },
    );
    return listAnswer(q, start, page, ledgerView, (p) => encodeListCursor("ledger", [p.id]));
  });

  app.get("/ledger/check", async () => {
    const problems = await deps.admin.checkLedger();
    return { consistent: problems.length === 0, problems };
  });
}
