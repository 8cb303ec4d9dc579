/**
 * A counting limit on work running at once: `take()` resolves when one of `size` slots is free,
 * first come first served; the caller gives it back with `give()`. The NATS bus uses one per process
 * so that the handlers of every owned consumer together never queue more database work than the
 * process's pool can serve in a moment, and interactive calls (a send, a page of the Control
 * Center) are not stuck behind thousands of background handlers.
 */
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`slots must be a whole number of at least 1, got ${size}`);
  }

  /** Slots in use now. */
  get busy(): number {
    return this.used;
  }

  /** Callers waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves true with a slot, or false without one once `abandon` settles first (the caller's work
   * was called off while it waited: it leaves the queue).
   */
  take(abandon?: Promise<unknown>): Promise<boolean> {
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = () => resolve(true);
      this.waiting.push(waiter);
      void abandon?.then(() => {
        const at = this.waiting.indexOf(waiter);
        if (at < 0) return; // it got its slot first
        this.waiting.splice(at, 1);
        resolve(false);
      });
    });
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes on: `used` stays
    else if (this.used > 0) this.used--;
  }
}
