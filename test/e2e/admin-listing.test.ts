/**
 * The operator's listings over HTTP (issue 13): /admin/v1/accounts, /ledger and
 * /webhooks page like GET /v1/tasks (page numbers to PAGE_DEPTH rows, next_cursor →
 * cursor at any depth) and count their total up to TOTAL_CAP (total_capped).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_DEPTH } from "../../src/core/paging.js";
import { encodeTaskCursor } from "../../src/core/task-cursor.js";
import {
  ledgerInvariants,
  startTestServer,
  TEST_ADMIN_TOKEN,
  type ApiResponse,
  type TestServer,
} from "../helpers/server.js";

let s: TestServer;
const admin = (p: string) => s.api(`/admin/v1${p}`, { key: TEST_ADMIN_TOKEN });

beforeAll(async () => {
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
  for (let i = 0; i < 6; i++) {
    const a = await s.api("/admin/v1/accounts", {
      key: TEST_ADMIN_TOKEN,
      body: { name: `lister-${i}`, credits: `${i + 1}` },
    });
    expect(a.status).toBe(200);
  }
});
afterAll(async () => {
  await ledgerInvariants(s.admin);
  await s.stop();
});

/** Follows next_cursor from the first page to the end. */
async function walk(path: string, pageSize: number): Promise<ApiResponse[]> {
  const sep = path.includes("?") ? "&" : "?";
  const answers = [await admin(`${path}${sep}page_size=${pageSize}`)];
  while (answers.at(-1)!.json.next_cursor) {
    const cursor = answers.at(-1)!.json.next_cursor as string;
    answers.push(await admin(`${path}${sep}page_size=${pageSize}&cursor=${cursor}`));
  }
  return answers;
}

describe("operator listings", () => {
  for (const path of ["/accounts", "/ledger", "/webhooks"]) {
    it(`${path}: the cursor walk reads what one big page holds, with the same total`, async () => {
      const all = await admin(`${path}?page_size=200`);
      expect(all.status).toBe(200);
      expect(all.json).toMatchObject({
        object: "list",
        page: 1,
        total_capped: false,
        next_cursor: null,
      });
      const answers = await walk(path, 2);
      const walked = answers.flatMap((a) => a.json.data);
      expect(walked).toEqual(all.json.data);
      for (const [i, a] of answers.entries()) {
        expect(a.status).toBe(200);
        expect(a.json).toMatchObject({
          total: all.json.total,
          page: i === 0 ? 1 : null,
          page_size: 2,
        });
      }
    });
  }

  it("lists accounts newest first and the ledger by account", async () => {
    const accounts = (await admin("/accounts?page_size=200")).json.data as Array<{
      name: string;
      id: string;
    }>;
    expect(accounts.map((a) => a.name).slice(0, 6)).toEqual([
      "lister-5",
      "lister-4",
      "lister-3",
      "lister-2",
      "lister-1",
      "lister-0",
    ]);
    const ledger = await admin(`/ledger?account_id=${accounts[0]!.id}`);
    expect(ledger.json).toMatchObject({
      total: 1,
      next_cursor: null,
      data: [{ kind: "topup", amount: 6 }],
    });
    const page3 = await admin("/accounts?page=3&page_size=2");
    expect(page3.json.data).toEqual(accounts.slice(4, 6));
  });

  it("refuses a page past the depth, a cursor of another listing, and a cursor with a page", async () => {
    for (const path of ["/accounts", "/ledger", "/webhooks"]) {
      const deep = await admin(`${path}?page=${PAGE_DEPTH / 200 + 1}&page_size=200`);
      expect(deep.status, path).toBe(400);
      expect(deep.json.error, path).toMatchObject({ code: "invalid_request", param: "page" });
      expect(deep.json.error.message).toMatch(/next_cursor.*cursor/);
      const taskCursor = encodeTaskCursor({ createdMs: 1, id: "task-unified-1-aaaaaaaa" });
      for (const cursor of [taskCursor, "garbage!", "e30"]) {
        const r = await admin(`${path}?cursor=${encodeURIComponent(cursor)}`);
        expect(r.status, `${path} ${cursor}`).toBe(400);
        expect(r.json.error).toMatchObject({ code: "invalid_request", param: "cursor" });
      }
    }
    const first = await admin("/accounts?page_size=1");
    const both = await admin(`/accounts?page=2&cursor=${first.json.next_cursor}`);
    expect(both.status).toBe(400);
    expect(both.json.error).toMatchObject({ code: "invalid_request", param: "page" });
    const accountsCursorOnLedger = await admin(`/ledger?cursor=${first.json.next_cursor}`);
    expect(accountsCursorOnLedger.json.error).toMatchObject({ param: "cursor" });
  });
});
