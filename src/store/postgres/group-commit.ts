/**
 * Group commit for PostgreSQL's hot writes (submissions, finishes): writes that arrive
 * while a batch is being written wait and go together in the next, as one statement
 * and one commit; a lone write goes at once. Up to `inFlight` batches are written side
 * by side on the pool's connections.
 *
 * A batch that fails as a whole is written again one by one, so only the bad write
 * fails; a write that fails alone goes to `alone`, which may still answer it (a
 * submission whose commit's answer was lost) or rethrow.
 */
export interface GroupCommitOptions<I, O> {
  /** Writes a batch; answers one result per item, in order. */
  write(items: I[]): Promise<O[]>;
  /** A write that failed on its own: answer it after all, or throw. */
  alone(item: I, err: unknown): Promise<O>;
  maxBatch: number;
  inFlight: number;
}

interface Queued<I, O> {
  item: I;
  resolve(r: O): void;
  reject(err: unknown): void;
}

export class GroupCommit<I, O> {
  private readonly queue: Array<Queued<I, O>> = [];
  private writing = 0;
  private drained: Array<() => void> = [];
  /** Batches written at once; a benchmark may change it before the first write. */
  maxInFlight: number;

  constructor(private readonly opts: GroupCommitOptions<I, O>) {
    this.maxInFlight = Math.max(1, opts.inFlight);
  }

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Resolves once every write asked for so far has been answered. */
  async drain(): Promise<void> {
    if (this.writing === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  private pump(): void {
    while (this.writing < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.writing++;
      void this.writeBatch(batch).finally(() => {
        this.writing--;
        if (this.queue.length > 0) this.pump();
        else if (this.writing === 0) for (const done of this.drained.splice(0)) done();
      });
    }
  }

  private async writeBatch(batch: Array<Queued<I, O>>): Promise<void> {
    let results: O[];
    try {
      results = await this.opts.write(batch.map((q) => q.item));
      if (results.length !== batch.length)
        throw new Error(`a batch of ${batch.length} writes answered ${results.length}`);
    } catch (err) {
      if (batch.length === 1) {
        const q = batch[0]!;
        await this.opts.alone(q.item, err).then(q.resolve, q.reject);
        return;
      }
      await Promise.all(batch.map((q) => this.writeBatch([q])));
      return;
    }
    batch.forEach((q, i) => q.resolve(results[i]!));
  }
}
