/** The listings' WHERE builder: set filters only, in order, values bound as arguments. */
import { describe, expect, it } from "vitest";
import { whereEquals } from "../../../src/store/sqlite/where.js";

describe("whereEquals", () => {
  it("joins the set filters in the order given", () => {
    expect(whereEquals({ account_id: "a1", task_id: "t1", status: "failed" })).toEqual({
      sql: "WHERE account_id = ? AND task_id = ? AND status = ?",
      args: ["a1", "t1", "failed"],
    });
  });

  it("skips missing and empty values; no filter at all is no clause", () => {
    expect(whereEquals({ account_id: undefined, task_id: "t1", status: "" })).toEqual({
      sql: "WHERE task_id = ?",
      args: ["t1"],
    });
    expect(whereEquals({ account_id: undefined, task_id: null })).toEqual({ sql: "", args: [] });
  });
});
