/** Fast-path answers go out together at the end of the turn, each once, in order. */
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { ResponseBatch } from "../../src/http/fast-paths/response-batch.js";

const endOfTurn = () => new Promise<void>((ok) => setImmediate(ok));

/** Just enough of a ServerResponse: records what was written to it, in one shared log. */
function fakeResponse(log: string[], name: string, fail?: Error) {
  const res = {
    headersSent: false,
    destroyed: false,
    writeHead(status: number, headers: string[]) {
      if (fail) throw fail;
      if (res.headersSent) throw new Error(`${name}: headers sent twice`);
      res.headersSent = true;
      log.push(`${name} ${status} ${headers.join(",")}`);
      return res;
    },
    end(body: string) {
      log.push(`${name} body ${body}`);
      return res;
    },
    destroy() {
      res.destroyed = true;
      log.push(`${name} destroyed`);
      return res;
    },
  };
  return res as typeof res & ServerResponse;
}

function batchWithErrors(max?: number) {
  const errors: unknown[] = [];
  return { batch: new ResponseBatch((err) => errors.push(err), max), errors };
}

describe("ResponseBatch", () => {
  it("writes nothing until the turn ends, then every answer in the order it was queued", async () => {
    const log: string[] = [];
    const { batch, errors } = batchWithErrors();
    const [a, b, c] = ["a", "b", "c"].map((n) => fakeResponse(log, n));
    batch.send(a!, 200, ["x", "1"], "A");
    batch.send(b!, 402, ["y", "2"], "B");
    batch.send(c!, 200, [], "C");
    expect(log).toEqual([]);
    expect([a, b, c].map((r) => ResponseBatch.answered(r!))).toEqual([true, true, true]);
    await endOfTurn();
    expect(log).toEqual(["a 200 x,1", "a body A", "b 402 y,2", "b body B", "c 200 ", "c body C"]);
    expect(errors).toEqual([]);
  });

  it("answers a response once: a second answer for it, queued or sent, is dropped", async () => {
    const log: string[] = [];
    const { batch } = batchWithErrors();
    const a = fakeResponse(log, "a");
    expect(ResponseBatch.answered(a)).toBe(false);
    batch.send(a, 200, [], "first");
    batch.send(a, 500, [], "second");
    await endOfTurn();
    batch.send(a, 500, [], "third");
    await endOfTurn();
    expect(log).toEqual(["a 200 ", "a body first"]);
  });

  it("writes a full batch at once, without waiting for the turn to end", async () => {
    const log: string[] = [];
    const { batch } = batchWithErrors(2);
    batch.send(fakeResponse(log, "a"), 200, [], "A");
    expect(log).toEqual([]);
    batch.send(fakeResponse(log, "b"), 200, [], "B");
    expect(log).toEqual(["a 200 ", "a body A", "b 200 ", "b body B"]);
    batch.send(fakeResponse(log, "c"), 200, [], "C");
    expect(log).toHaveLength(4);
    await endOfTurn();
    expect(log.slice(4)).toEqual(["c 200 ", "c body C"]);
  });

  it("closes an answer that cannot be written, reports it, and still writes the rest", async () => {
    const log: string[] = [];
    const { batch, errors } = batchWithErrors();
    const boom = new Error("invalid header");
    batch.send(fakeResponse(log, "a"), 200, [], "A");
    batch.send(fakeResponse(log, "b", boom), 200, [], "B");
    batch.send(fakeResponse(log, "c"), 200, [], "C");
    await endOfTurn();
    expect(log).toEqual(["a 200 ", "a body A", "b destroyed", "c 200 ", "c body C"]);
    expect(errors).toEqual([boom]);
  });

  it("once armed, flushes ahead of what the deciding work schedules for the end of the turn", async () => {
    const log: string[] = [];
    const { batch } = batchWithErrors();
    batch.arm();
    // What the read snapshot does: release at the end of the turn, scheduled while reading.
    setImmediate(() => log.push("snapshot released"));
    batch.send(fakeResponse(log, "a"), 200, [], "A");
    await endOfTurn();
    expect(log).toEqual(["a 200 ", "a body A", "snapshot released"]);
  });

  it("an armed turn with nothing to write is harmless, and the next turn flushes again", async () => {
    const log: string[] = [];
    const { batch } = batchWithErrors();
    batch.arm();
    await endOfTurn();
    batch.send(fakeResponse(log, "a"), 200, [], "A");
    await endOfTurn();
    expect(log).toEqual(["a 200 ", "a body A"]);
  });
});
