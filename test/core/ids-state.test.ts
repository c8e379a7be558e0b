import { describe, expect, it } from "vitest";
import { DurationEstimator } from "../../src/core/estimate.js";
import { newApiKey, newTaskId, TASK_ID_RE } from "../../src/core/ids.js";
import { canTransition, isTerminal, nextProgress } from "../../src/core/task-state.js";

describe("ids", () => {
  it("task ids follow the contract and carry the unix second", () => {
    const id = newTaskId(1_757_165_031_999);
    expect(id).toMatch(TASK_ID_RE);
    expect(id.startsWith("task-unified-1757165031-")).toBe(true);
  });

  it("random parts use the whole alphabet evenly enough and never repeat", () => {
    const ids = Array.from({ length: 5000 }, () => newTaskId(1_757_165_031_500).slice(-6));
    // 5,000 draws of 36^6 (31 bits) repeat one with a chance of 0.6 % (the birthday
    // bound, n² / 2N), which failed CI once; three repeats would take odds of ~1e-8.
    expect(new Set(ids).size).toBeGreaterThanOrEqual(4998);
    const counts = new Map<string, number>();
    for (const c of ids.join("")) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(36);
    for (const n of counts.values()) expect(n).toBeGreaterThan(30000 / 36 / 2);
  });

  it("ids made later in the same second sort after earlier ones", () => {
    const at = (ms: number) => newTaskId(1_757_165_031_000 + ms);
    expect(at(0).slice(-8, -6)).toBe("00");
    expect(at(999).slice(-8, -6)).toBe("zy");
    const ms = [0, 1, 2, 17, 250, 251, 500, 998, 999];
    const ids = ms.map(at);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    for (const id of ids) expect(id).toMatch(TASK_ID_RE);
  });

  it("API keys are sk- plus at least 32 URL-safe characters", () => {
    expect(newApiKey()).toMatch(/^sk-[A-Za-z0-9_-]{40}$/);
  });
});

describe("task state machine", () => {
  it("allows only forward moves", () => {
    expect(canTransition("pending", "processing")).toBe(true);
    expect(canTransition("processing", "completed")).toBe(true);
    expect(canTransition("pending", "failed")).toBe(true);
    expect(canTransition("processing", "pending")).toBe(false);
    expect(canTransition("completed", "failed")).toBe(false);
    expect(canTransition("failed", "completed")).toBe(false);
    expect(canTransition("pending", "completed")).toBe(false);
    expect(isTerminal("completed") && isTerminal("failed") && !isTerminal("processing")).toBe(true);
  });

  it("progress never decreases and stays below 100 until completion", () => {
    expect(nextProgress(40, 20)).toBe(40);
    expect(nextProgress(40, 60)).toBe(60);
    expect(nextProgress(40, 150)).toBe(99);
    expect(nextProgress(0, -5)).toBe(0);
  });
});

describe("estimated_time", () => {
  it("uses the default until 3 samples, then the median of recent ones", () => {
    const e = new DurationEstimator(() => 45, 5);
    expect(e.estimate("m")).toBe(45);
    e.record("m", 10);
    e.record("m", 12);
    expect(e.estimate("m")).toBe(45);
    e.record("m", 500); // one stuck task does not drag the estimate
    expect(e.estimate("m")).toBe(12);
    for (const s of [20, 20, 20, 20, 20]) e.record("m", s);
    expect(e.estimate("m")).toBe(20);
  });

  it("estimated_time is learned per model; a model without history keeps its configured default", () => {
    const e = new DurationEstimator((m) => (m === "slow" ? 90 : 30));
    for (const s of [4, 5, 6]) e.record("fast", s);
    expect(e.estimate("fast")).toBe(5);
    expect(e.estimate("slow")).toBe(90);
    expect(e.estimate("unknown")).toBe(30);
  });
});
