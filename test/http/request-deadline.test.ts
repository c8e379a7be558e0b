/** The body deadline's rules, on a clock the test moves (src/http/edge/request-deadline.ts). */
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { RequestDeadlines } from "../../src/http/edge/request-deadline.js";

function fakeRequest(headers: Record<string, string> = { "content-length": "1000" }) {
  const socket = Object.assign(new EventEmitter(), { bytesRead: 200, destroyed: false });
  return { headers, complete: false, socket } as unknown as IncomingMessage & {
    complete: boolean;
    socket: { bytesRead: number; destroyed: boolean };
  };
}

describe("request deadlines", () => {
  const options = {
    requestTimeoutMs: 30_000,
    minBytesPerSecond: 1000,
    graceMs: 5000,
    checkEveryMs: 1000,
  };

  it("tracks only requests that still expect a body", () => {
    expect(RequestDeadlines.expectsBody(fakeRequest())).toBe(true);
    expect(RequestDeadlines.expectsBody(fakeRequest({ "transfer-encoding": "chunked" }))).toBe(
      true,
    );
    expect(RequestDeadlines.expectsBody(fakeRequest({}))).toBe(false);
    expect(RequestDeadlines.expectsBody(fakeRequest({ "content-length": "0" }))).toBe(false);
  });

  it("leaves a slow start alone during the grace, then cuts a body below the minimum rate", () => {
    let now = 0;
    const d = new RequestDeadlines(options, () => now);
    const req = fakeRequest();
    const late: string[] = [];
    d.track(req, (why) => late.push(why));
    now = 4000;
    d.check();
    expect(late).toEqual([]);
    now = 6000;
    req.socket.bytesRead += 6500; // 6.5 KB in 6 s: above 1 KB/s
    d.check();
    expect(late).toEqual([]);
    now = 8000;
    req.socket.bytesRead += 100; // 6.6 KB in 8 s: below
    d.check();
    expect(late).toEqual(["too_slow"]);
    expect(d.size).toBe(0);
  });

  it("cuts a body that keeps its rate but exceeds the whole-request time", () => {
    let now = 0;
    const d = new RequestDeadlines(options, () => now);
    const req = fakeRequest();
    const late: string[] = [];
    d.track(req, (why) => late.push(why));
    for (now = 1000; now <= 31_000; now += 1000) {
      req.socket.bytesRead += 2000;
      d.check();
    }
    expect(late).toEqual(["timeout"]);
  });

  it("keeps one entry per connection: a keep-alive connection's next request replaces the last", () => {
    const d = new RequestDeadlines(options, () => 0);
    const first = fakeRequest();
    const next = { ...fakeRequest(), socket: first.socket } as typeof first;
    d.track(first, () => {});
    d.track(next, () => {});
    expect(d.size).toBe(1);
    d.track(fakeRequest(), () => {});
    expect(d.size).toBe(2);
    d.stop();
  });

  it("forgets a request once its body is complete or its connection closed", () => {
    let now = 0;
    const d = new RequestDeadlines(options, () => now);
    const done = fakeRequest();
    const gone = fakeRequest();
    const late: string[] = [];
    d.track(done, (why) => late.push(why));
    d.track(gone, (why) => late.push(why));
    done.complete = true;
    gone.socket.destroyed = true;
    now = 60_000;
    d.check();
    expect(late).toEqual([]);
    expect(d.size).toBe(0);
    d.stop();
  });
});
