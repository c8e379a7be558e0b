/**
 * The worker half yields the CPU to the API. On Linux the nice value is kept per
 * thread and a new thread starts with its creator's, so lowering the calling thread's
 * priority before the worker starts anything (its store's writer, file writers, image
 * work) lowers all of the worker's own threads and none of the API's. Under contention
 * the kernel then gives the API's threads most of the CPU; idle, the worker gets it all.
 */
import { setPriority } from "node:os";
import type { Logger } from "pino";

export function yieldCpuToApi(nice: number, log: Logger): void {
  if (nice <= 0) return;
  try {
    // pid 0: the calling thread (per-thread on Linux; the whole process elsewhere).
    setPriority(0, nice);
  } catch (err) {
    log.warn({ err, nice }, "could not lower the worker's CPU priority; it runs at the API's");
  }
}
