/**
 * Experiment slots: at most `budgets.concurrency` seeds run at once. A freed slot is handed to
 * one waiter at a time (first come, first served): waiters woken together by a condition would
 * all see the same free slot and overshoot the concurrency budget.
 */
export class Slots {
  private inUse = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: () => number,
    private readonly changed: () => void,
  ) {}

  /** Resolves when the caller holds a slot. */
  acquire(): Promise<void> {
    if (this.inUse < this.concurrency() && this.waiters.length === 0) {
      this.inUse++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    this.inUse--;
    this.handOut();
    this.changed();
  }

  /** Gives free slots to waiters (after a release, or when the concurrency budget was raised). */
  handOut(): void {
    while (this.waiters.length > 0 && this.inUse < this.concurrency()) {
      this.inUse++;
      this.waiters.shift()!();
    }
  }

  /** Experiment runs holding a slot now. */
  get busy(): number {
    return this.inUse;
  }
}
