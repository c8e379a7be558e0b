/** What waiting looks like: the ETA, the terminal bar and the plain lines for logs. */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  createReporter,
  etaSeconds,
  formatSeconds,
  type TaskView,
} from "../../src/cli/progress.js";

/** A stream that records what is written, a terminal or not. */
function sink(isTTY: boolean) {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 100 });
  return { stream, text: () => text };
}

const task = (over: Partial<TaskView>): TaskView => ({
  id: "task-unified-1000-abcdefgh",
  status: "processing",
  progress: 0,
  created: 1000,
  task_info: { estimated_time: 45 },
  ...over,
});

describe("progress", () => {
  it("estimates from the server's estimate first, then from the progress rate", () => {
    expect(etaSeconds(task({ progress: 0 }), 1_010_000)).toBe(35);
    expect(etaSeconds(task({ progress: 25 }), 1_010_000)).toBe(30);
    expect(etaSeconds(task({ progress: 0, task_info: {} }), 1_010_000)).toBeNull();
    expect(etaSeconds(task({ status: "completed", progress: 100 }), 1_010_000)).toBe(0);
    expect([
      formatSeconds(null),
      formatSeconds(9),
      formatSeconds(125),
      formatSeconds(3720),
    ]).toEqual(["?", "9s", "2m05s", "1h02m"]);
  });

  it("writes one plain line per change when not a terminal", () => {
    const out = sink(false);
    const r = createReporter(out.stream, () => 1_010_000);
    r.update(task({ status: "pending" }));
    r.update(task({ status: "pending" }));
    r.update(task({ progress: 50 }));
    r.update(task({ status: "completed", progress: 100 }));
    r.stop();
    expect(out.text().split("\n")).toEqual([
      "task-unified-1000-abcdefgh pending 0% eta 35s",
      "task-unified-1000-abcdefgh processing 50% eta 10s",
      "task-unified-1000-abcdefgh completed 100%",
      "",
    ]);
  });

  it("draws a bar with status and ETA on a terminal", () => {
    const out = sink(true);
    const r = createReporter(out.stream, () => 1_010_000);
    r.update(task({ progress: 50 }));
    r.stop();
    expect(out.text()).toMatch(/█+░+ 50% \| processing \| ETA 10s/);
  });
});
