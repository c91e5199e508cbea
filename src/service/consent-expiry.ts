/**
 * A consent with an end takes effect at that instant: searches check validity as they run, and
 * this timer erases the templates when the next consent ends, rather than at the hourly purge.
 * It sleeps at most an hour at a time (a clock may move, a consent may arrive from another
 * process), never keeps the process alive, and stops with the service.
 */
export class ConsentExpiryTimer {
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly now: () => Date,
    private readonly nextExpiry: (now: Date) => Promise<number | undefined>,
    /** Erases every subject whose consent has ended, with receipts. */
    private readonly sweep: () => Promise<unknown>,
    private readonly longestSleepMs = 3_600_000,
  ) {}

  /** Sets the timer for the next consent to end; called at start and whenever a consent is recorded. */
  schedule(): void {
    if (this.closed) return;
    this.pending = this.pending.then(() => this.arm()).catch(() => undefined);
  }

  private async arm(): Promise<void> {
    if (this.closed) return;
    const next = await this.nextExpiry(this.now());
    clearTimeout(this.timer);
    this.timer = undefined;
    if (next === undefined || this.closed) return;
    // A few milliseconds late rather than early: at the instant itself the consent is still in force.
    const delay = Math.min(Math.max(0, next - this.now().getTime()) + 5, this.longestSleepMs);
    this.timer = setTimeout(() => {
      this.pending = this.pending.then(async () => {
        if (this.closed) return;
        await this.sweep().catch(() => undefined);
        await this.arm();
      }).catch(() => undefined);
    }, delay);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.pending;
  }
}
