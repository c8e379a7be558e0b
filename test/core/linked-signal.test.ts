import { describe, expect, it } from "vitest";
import { linkSignals } from "../../src/core/linked-signal.js";

describe("linkSignals", () => {
  it("aborts with the reason of the parent that aborted first", () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, b.signal);
    expect(linked.signal.aborted).toBe(false);
    b.abort(new Error("b went"));
    a.abort(new Error("a went"));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe("b went");
  });

  it("starts aborted when a parent already is", () => {
    const a = new AbortController();
    a.abort("early");
    const linked = linkSignals(new AbortController().signal, a.signal);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe("early");
    linked.dispose();
  });

  it("follows no parent once disposed", () => {
    const a = new AbortController();
    const linked = linkSignals(a.signal);
    let heard = 0;
    linked.signal.addEventListener("abort", () => heard++);
    linked.dispose();
    linked.dispose();
    a.abort();
    expect(linked.signal.aborted).toBe(false);
    expect(heard).toBe(0);
  });

  it("lets go of every parent after an abort, so a long-lived parent keeps no listener", () => {
    const parent = new AbortController();
    const other = new AbortController();
    const added: string[] = [];
    const removed: string[] = [];
    const watch = (s: AbortSignal, name: string) => {
      const add = s.addEventListener.bind(s);
      const remove = s.removeEventListener.bind(s);
      s.addEventListener = ((...args: Parameters<typeof add>) => {
        added.push(name);
        add(...args);
      }) as typeof s.addEventListener;
      s.removeEventListener = ((...args: Parameters<typeof remove>) => {
        removed.push(name);
        remove(...args);
      }) as typeof s.removeEventListener;
    };
    watch(parent.signal, "parent");
    watch(other.signal, "other");
    linkSignals(parent.signal, other.signal);
    other.abort();
    expect(added.sort()).toEqual(["other", "parent"]);
    expect(removed.sort()).toEqual(["other", "parent"]);
  });
});
