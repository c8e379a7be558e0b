/**
 * The idle wait of a polling loop (the task runner, the webhook dispatcher): a sleep
 * that `wake()` cuts short when this process knows there may be work. A wake while
 * no sleep is in progress does nothing: the loop is awake and about to look anyway.
 */
export class WakeableSleep {
  private wakeUp: (() => void) | null = null;

  /** Resolves after `ms`, or at the next `wake()` if that comes first. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  /** Ends the sleep in progress, if any. */
  wake(): void {
    this.wakeUp?.();
  }
}
