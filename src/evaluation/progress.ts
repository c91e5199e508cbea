/**
 * Progress on stderr. On a terminal, a one-line bar redrawn in place; elsewhere (CI, a container's
 * log, a file) a plain line every `everyMs` (30 s by default) and at the end, so a long run under
 * CI says how far it is instead of nothing until it ends.
 */
export class Progress {
  private readonly start = performance.now();
  private lastDraw = 0;
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly everyMs = 30_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tty = this.stream.isTTY === true;
    this.start = this.now();
    // Without a terminal the first line waits a full interval: a short run prints only its last.
    this.lastDraw = this.start;
  }

  update(done: number): void {
    const now = this.now();
    const interval = this.tty ? 200 : this.everyMs;
    if (done >= this.total || now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const frac = this.total ? done / this.total : 1;
    const rate = done / Math.max((now - this.start) / 1000, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    if (!this.tty) {
      this.stream.write(`${this.label}: ${done}/${this.total} (${Math.round(frac * 100)}%), ${rate.toFixed(1)}/s, eta ${Math.ceil(eta)}s\n`);
      return;
    }
    const width = 30;
    const filled = Math.round(frac * width);
    this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${rate.toFixed(1)}/s eta ${Math.ceil(eta)}s `);
  }

  finish(): void {
    const secs = (this.now() - this.start) / 1000;
    this.stream.write(`${this.tty ? '\r' : ''}${this.label}: ${this.total} done in ${secs.toFixed(1)}s${this.tty ? ' '.repeat(30) : ''}\n`);
  }
}
