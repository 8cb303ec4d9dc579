/**
 * Group commit: items submitted within a short window (or until the batch is full) are written in
 * one transaction, and every caller's promise settles when that transaction has committed. One
 * write runs at a time; items that arrive meanwhile go into the next one. This is how the tracker
 * acknowledges positions only once they are durable, without a disk write per position; and how a
 * burst of lookups (device tokens at hello, their pending deliveries) becomes one statement.
 */
interface Waiting<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  private batch: Waiting<T, R>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly windowMs: number,
    private readonly maxBatch: number,
  ) {}

  /** Items waiting for a commit. */
  get pending(): number {
    return this.batch.length;
  }

  /** Queues items; resolves with one result per item once they are committed. */
  submit(items: T[]): Promise<R[]> {
    const done = Promise.all(items.map((item) => new Promise<R>((resolve, reject) => this.batch.push({ item, resolve, reject }))));
    this.schedule();
    return done;
  }

  /** Commits everything waiting now (used at shutdown). */
  async flush(): Promise<void> {
    while (this.writing || this.batch.length > 0) {
      if (this.writing) await this.writing;
      else this.start();
    }
  }

  private schedule(): void {
    if (this.writing) return; // the running write schedules the next when it ends
    if (this.batch.length >= this.maxBatch) this.start();
    else this.timer ??= setTimeout(() => this.start(), this.windowMs);
  }

  private start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing || this.batch.length === 0) return;
    const batch = this.batch.splice(0, this.maxBatch);
    this.writing = this.write(batch.map((b) => b.item)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
      (error: unknown) => batch.forEach((b) => b.reject(error)),
    ).finally(() => {
      this.writing = undefined;
      if (this.batch.length > 0) this.schedule();
    });
  }
}
