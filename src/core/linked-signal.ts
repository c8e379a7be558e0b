/**
 * One signal that aborts when any of its parents does (with that parent's reason), and
 * lets go of them when disposed.
 *
 * Why not `AbortSignal.any`: on Node 20 each call builds weak references and registers
 * the composite for finalization, and the parents keep it until a collection notices
 * it is gone. The runner made two per task; in a CPU profile at ~500 tasks/s they were
 * a few percent of the runner's thread. Here a composite is an AbortController and one
 * listener per parent, removed by `dispose()` as soon as the composite's user is done.
 */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Stops following the parents (idempotent); call it when the signal's user is done. */
  dispose(): void;
}

export function linkSignals(...parents: AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const aborted = parents.find((p) => p.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, dispose: () => {} };
  }
  const listeners = parents.map((parent) => {
    const onAbort = () => {
      dispose();
      controller.abort(parent.reason);
    };
    parent.addEventListener("abort", onAbort, { once: true });
    return { parent, onAbort };
  });
  let disposed = false;
  function dispose(): void {
    if (disposed) return;
    disposed = true;
    for (const { parent, onAbort } of listeners) parent.removeEventListener("abort", onAbort);
  }
  return { signal: controller.signal, dispose };
}
