/**
 * Every answer of a turn goes out together at its end, each once, in order
 * (src/http/edge/turn-batched-response.ts).
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { TurnBatch, type End } from "../../src/http/edge/turn-batched-response.js";

const endOfTurn = () => new Promise<void>((ok) => setImmediate(ok));

/** A batch whose "really end" records into `log` (or throws for responses named in `failing`). */
function recordingBatch(log: string[], max?: number, failing = new Set<string>()) {
  const errors: unknown[] = [];
  const names = new Map<ServerResponse, string>();
  const end: End = function (this: ServerResponse, ...args: unknown[]) {
    const name = names.get(this)!;
    if (failing.has(name)) throw new Error(`${name} cannot be written`);
    log.push(`${name} ${String(args[0])}`);
    return this;
  };
  const batch = new TurnBatch((err) => errors.push(err), max, end);
  const response = (name: string) => {
    const res = { destroy: () => log.push(`${name} destroyed`) } as unknown as ServerResponse;
    names.set(res, name);
    return res;
  };
  return { batch, errors, response };
}

describe("TurnBatch", () => {
  it("ends nothing until the turn ends, then every response in the order it was ended", async () => {
    const log: string[] = [];
    const { batch, errors, response } = recordingBatch(log);
    batch.enqueue(response("a"), ["A"]);
    batch.enqueue(response("b"), ["B"]);
    batch.enqueue(response("c"), ["C"]);
    expect(log).toEqual([]);
    await endOfTurn();
    expect(log).toEqual(["a A", "b B", "c C"]);
    expect(errors).toEqual([]);
  });

  it("ends a full batch at once, without waiting for the turn to end", async () => {
    const log: string[] = [];
    const { batch, response } = recordingBatch(log, 2);
    batch.enqueue(response("a"), ["A"]);
    expect(log).toEqual([]);
    batch.enqueue(response("b"), ["B"]);
    expect(log).toEqual(["a A", "b B"]);
    batch.enqueue(response("c"), ["C"]);
    expect(log).toHaveLength(2);
    await endOfTurn();
    expect(log).toEqual(["a A", "b B", "c C"]);
  });

  it("closes a response that cannot be ended, reports it, and still ends the rest", async () => {
    const log: string[] = [];
    const { batch, errors, response } = recordingBatch(log, undefined, new Set(["b"]));
    for (const n of ["a", "b", "c"]) batch.enqueue(response(n), [n.toUpperCase()]);
    await endOfTurn();
    expect(log).toEqual(["a A", "b destroyed", "c C"]);
    expect(errors).toHaveLength(1);
  });

  it("once armed, flushes ahead of what handling schedules for the end of the turn", async () => {
    const log: string[] = [];
    const { batch, response } = recordingBatch(log);
    batch.arm();
    // What the poll's read snapshot does: release at the end of the turn, scheduled while reading.
    setImmediate(() => log.push("snapshot released"));
    batch.enqueue(response("a"), ["A"]);
    await endOfTurn();
    expect(log).toEqual(["a A", "snapshot released"]);
  });

  it("an armed turn with nothing to end is harmless, and the next turn flushes again", async () => {
    const log: string[] = [];
    const { batch, response } = recordingBatch(log);
    batch.arm();
    await endOfTurn();
    batch.enqueue(response("a"), ["A"]);
    await endOfTurn();
    expect(log).toEqual(["a A"]);
  });
});

describe("the response class", () => {
  it("holds a real response's end() to the end of the turn, answers once, and keeps node's callback", async () => {
    const errors: unknown[] = [];
    const batch = new TurnBatch((err) => errors.push(err));
    const seen: string[] = [];
    const server = createServer({ ServerResponse: batch.responseClass() }, (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("first", () => seen.push("finished"));
      res.end("second");
      seen.push(`ended in this turn: ${res.writableEnded}`);
      setImmediate(() => seen.push(`ended after it: ${res.writableEnded}`));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      expect(r.status).toBe(200);
      expect(await r.text()).toBe("first");
      await expect.poll(() => seen).toContain("finished");
      expect(seen[0]).toBe("ended in this turn: false");
      expect(seen).toContain("ended after it: true");
      expect(errors).toEqual([]);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });
});
