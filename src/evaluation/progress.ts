/** A one-line progress bar on stderr; silent when stderr is not a terminal, except for a final line. */
export class Progress {
  private readonly start = performance.now();
  private lastDraw = 0;
  constructor(private readonly label: string, private readonly total: number, private readonly stream = process.stderr) {}

  update(done: number): void {
    const now = performance.now();
    if (!this.stream.isTTY || (now - this.lastDraw < 200 && done < this.total)) return;
    this.lastDraw = now;
    const frac = this.total ? done / this.total : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const rate = done / ((now - this.start) / 1000);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${rate.toFixed(1)}/s eta ${Math.ceil(eta)}s `);
  }

  finish(): void {
    const secs = (performance.now() - this.start) / 1000;
    this.stream.write(`${this.stream.isTTY ? '\r' : ''}${this.label}: ${this.total} done in ${secs.toFixed(1)}s${' '.repeat(30)}\n`);
  }
}
