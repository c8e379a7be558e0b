/**
 * GET /v1/tasks over HTTP (issue 13, "History is O(page)"): EvoLink's page/page_size
 * within the documented depth, the cursor (next_cursor → cursor) at any depth, totals,
 * filters, and a clear 400 naming the parameter for whatever cannot be served.
 *
 * No runner: tasks stay pending unless cancelled (failed), so every count is known.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_DEPTH } from "../../src/core/paging.js";
import { encodeTaskCursor } from "../../src/core/task-cursor.js";
import {
  addAccount,
  ledgerInvariants,
  startTestServer,
  type ApiResponse,
  type TestServer,
} from "../helpers/server.js";

let s: TestServer;
const OTHER_KEY = "sk-other000000000000000000000000000000000x";
const M4 = "doubao-seedream-4.0";
const M45 = "doubao-seedream-4.5";
/** Submission order; the listing is newest first. */
const ids: string[] = [];
const modelOf = new Map<string, string>();
const cancelled = new Set<string>();
let theirs: string;

interface Listed {
  id: string;
  model: string;
  status: string;
  created: number;
}

beforeAll(async () => {
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
  await addAccount(s.admin, { name: "other", key: OTHER_KEY, credits: 100 });
  for (let i = 0; i < 23; i++) {
    const model = i % 3 === 0 ? M45 : M4;
    const r = await s.api("/v1/images/generations", { body: { model, prompt: `list ${i}` } });
    expect(r.status).toBe(200);
    ids.push(r.json.id);
    modelOf.set(r.json.id, model);
    if (i === 10) {
      const o = await s.api("/v1/images/generations", {
        key: OTHER_KEY,
        body: { model: M4, prompt: "theirs" },
      });
      theirs = o.json.id;
    }
  }
  for (const id of ids.filter((_, i) => i % 4 === 1)) {
    expect((await s.api(`/v1/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
    cancelled.add(id);
  }
});
afterAll(async () => {
  await ledgerInvariants(s.admin);
  await s.stop();
});

const statusOf = (id: string) => (cancelled.has(id) ? "failed" : "pending");

/** The whole listing in one page (page_size 100 > the 23 tasks). */
async function everything(filter = ""): Promise<Listed[]> {
  const r = await s.api(`/v1/tasks?page_size=100${filter}`);
  expect(r.status).toBe(200);
  return r.json.data;
}

/** Follows next_cursor from page 1 to the end. */
async function walk(
  filter: string,
  pageSize: number,
): Promise<{ ids: string[]; answers: ApiResponse[] }> {
  const answers: ApiResponse[] = [];
  let r = await s.api(`/v1/tasks?page_size=${pageSize}${filter}`);
  for (;;) {
    expect(r.status, r.text).toBe(200);
    answers.push(r);
    if (r.json.next_cursor === null) break;
    r = await s.api(`/v1/tasks?page_size=${pageSize}&cursor=${r.json.next_cursor}${filter}`);
  }
  return { ids: answers.flatMap((a) => a.json.data.map((t: Listed) => t.id)), answers };
}

describe("GET /v1/tasks", () => {
  it("page 1 is EvoLink's answer, with next_cursor where more tasks follow", async () => {
    const r = await s.api("/v1/tasks");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ total: 23, page: 1, page_size: 20 });
    expect(r.json.data).toHaveLength(20);
    expect(typeof r.json.next_cursor).toBe("string");
    const all = await everything();
    expect(all.map((t) => t.id).sort()).toEqual([...ids].sort());
    expect(r.json.data.map((t: Listed) => t.id)).toEqual(all.slice(0, 20).map((t) => t.id));
    // Newest first: creation times never increase down the list.
    for (let i = 1; i < all.length; i++)
      expect(all[i]!.created).toBeLessThanOrEqual(all[i - 1]!.created);
    expect((await s.api("/v1/tasks?page_size=100")).json.next_cursor).toBeNull();
  });

  it("the cursor walk reads every task once, in the order of the pages, with the total on each", async () => {
    const all = (await everything()).map((t) => t.id);
    for (const size of [1, 7]) {
      const { ids: walked, answers } = await walk("", size);
      expect(walked).toEqual(all);
      for (const [i, a] of answers.entries()) {
        expect(a.json.total).toBe(23);
        // A cursor answer has no page number.
        expect(a.json.page).toBe(i === 0 ? 1 : null);
        expect(a.json.page_size).toBe(size);
      }
    }
    // Page numbers read the same pages the cursor does.
    const page2 = await s.api("/v1/tasks?page=2&page_size=7");
    expect(page2.json.data.map((t: Listed) => t.id)).toEqual(all.slice(7, 14));
    expect(page2.json).toMatchObject({ page: 2, total: 23 });
    const third = await s.api(`/v1/tasks?page_size=7&cursor=${page2.json.next_cursor}`);
    expect(third.json.data.map((t: Listed) => t.id)).toEqual(all.slice(14, 21));
  });

  it("filters by status and model, with the cursor too, and counts exactly", async () => {
    const cases: Array<[string, (id: string) => boolean]> = [
      ["&status=failed", (id) => statusOf(id) === "failed"],
      ["&status=pending", (id) => statusOf(id) === "pending"],
      [`&model=${M45}`, (id) => modelOf.get(id) === M45],
      [`&model=${M4}&status=failed`, (id) => modelOf.get(id) === M4 && statusOf(id) === "failed"],
      ["&status=completed", () => false],
      ["&model=no-such-model", () => false],
    ];
    const all = (await everything()).map((t) => t.id);
    for (const [filter, match] of cases) {
      const expected = all.filter(match);
      const { ids: walked, answers } = await walk(filter, 2);
      expect(walked, filter).toEqual(expected);
      for (const a of answers) expect(a.json.total, filter).toBe(expected.length);
      const listed = await everything(filter);
      for (const t of listed) {
        expect(t.status).toBe(statusOf(t.id));
        expect(t.model).toBe(modelOf.get(t.id));
      }
    }
  });

  it("never shows another account's tasks, even from a position taken among theirs", async () => {
    const all = (await everything()).map((t) => t.id);
    expect(all).not.toContain(theirs);
    // Their task's position, as a cursor: this account's tasks after it, none of theirs.
    const created = (await s.api(`/v1/tasks/${theirs}`, { key: OTHER_KEY })).json.created;
    const cursor = encodeTaskCursor({ createdMs: created * 1000 + 999, id: theirs });
    const r = await s.api(`/v1/tasks?page_size=100&cursor=${cursor}`);
    expect(r.status).toBe(200);
    expect(r.json.data.every((t: Listed) => ids.includes(t.id))).toBe(true);
    expect(r.json.total).toBe(23);
    const mine = await s.api("/v1/tasks", { key: OTHER_KEY });
    expect(mine.json).toMatchObject({ total: 1, next_cursor: null, data: [{ id: theirs }] });
  });

  it("serves page numbers to the documented depth and sends deeper ones to the cursor", async () => {
    const last = PAGE_DEPTH / 20;
    const edge = await s.api(`/v1/tasks?page=${last}`);
    expect(edge.status).toBe(200);
    expect(edge.json).toMatchObject({ data: [], total: 23, page: last, next_cursor: null });
    for (const q of [
      `page=${last + 1}`,
      `page=${PAGE_DEPTH / 100 + 1}&page_size=100`,
      "page=50000",
    ]) {
      const r = await s.api(`/v1/tasks?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.error, q).toMatchObject({
        code: "invalid_request",
        type: "invalid_request_error",
        param: "page",
      });
      expect(r.json.error.message, q).toContain(String(PAGE_DEPTH));
      expect(r.json.error.message, q).toMatch(/next_cursor.*cursor/);
    }
  });

  it("refuses a cursor it did not give out, and a cursor with a page number past 1", async () => {
    const first = await s.api("/v1/tasks?page_size=5");
    const good = first.json.next_cursor as string;
    const bad = [
      "not-a-cursor!",
      "abc",
      Buffer.from("1.123.task-unified-1-aaaaaaaa.extra").toString("base64url"),
      Buffer.from("2.123.task-unified-1-aaaaaaaa").toString("base64url"),
      Buffer.from("1.123.other-id").toString("base64url"),
      "x".repeat(300),
    ];
    for (const cursor of bad) {
      const r = await s.api(`/v1/tasks?cursor=${encodeURIComponent(cursor)}`);
      expect(r.status, cursor).toBe(400);
      expect(r.json.error, cursor).toMatchObject({ code: "invalid_request", param: "cursor" });
      expect(r.json.error.message).toMatch(/next_cursor/);
    }
    const both = await s.api(`/v1/tasks?page=2&cursor=${good}`);
    expect(both.status).toBe(400);
    expect(both.json.error).toMatchObject({ code: "invalid_request", param: "page" });
    expect(both.json.error.message).toMatch(/cursor/);
    // page=1 (what many clients always send) and an empty cursor are fine.
    const withPage1 = await s.api(`/v1/tasks?page=1&page_size=5&cursor=${good}`);
    expect(withPage1.status).toBe(200);
    expect(withPage1.json.page).toBeNull();
    const second = await s.api(`/v1/tasks?page=2&page_size=5`);
    expect(withPage1.json.data).toEqual(second.json.data);
    const blank = await s.api("/v1/tasks?cursor=&status=&model=&page=&page_size=");
    expect(blank.json).toMatchObject({ page: 1, page_size: 20, total: 23 });
  });
});
