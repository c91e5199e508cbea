/**
 * The threshold for a rate between measured points, linear in log10 of the rate: calibration points
 * are spaced by decades, and a score threshold moves about evenly per decade of FMR. `points` run
 * from the highest rate down. Undefined outside them.
 */
export function thresholdBetweenPoints(points: readonly { fmr: number; threshold: number }[], fmr: number): number | undefined {
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (Math.abs(Math.log10(p.fmr) - Math.log10(fmr)) < 1e-9) return p.threshold;
    const q = points[i + 1];
    if (q && fmr < p.fmr && fmr > q.fmr) {
      const t = (Math.log10(p.fmr) - Math.log10(fmr)) / (Math.log10(p.fmr) - Math.log10(q.fmr));
      return p.threshold + t * (q.threshold - p.threshold);
    }
  }
  return undefined;
}
