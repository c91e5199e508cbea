/**
 * Verification metrics over similarity scores, where a pair "matches" when score >= threshold.
 * Inputs are typed arrays so that millions of pairs stay cheap.
 */

export interface FoldResult {
  fold: number;
  threshold: number;
  accuracy: number;
}

export interface TenFoldResult {
  mean: number;
  std: number;
  folds: FoldResult[];
}

/** Threshold maximising accuracy on the given pairs: midpoints between sorted scores are tried. */
export function bestAccuracyThreshold(scores: ArrayLike<number>, same: ArrayLike<number>, include: (i: number) => boolean): number {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (include(i)) idx.push(i);
  idx.sort((i, j) => scores[i]! - scores[j]!);
  // Threshold below everything: all genuine pairs correct, no impostor pair correct.
  let correct = 0;
  for (const i of idx) if (same[i]) correct++;
  let best = correct;
  let bestThreshold = idx.length ? scores[idx[0]!]! - 1e-6 : 0;
  for (let k = 0; k < idx.length; k++) {
    // Moving the threshold above idx[k] flips that pair to "no match".
    correct += same[idx[k]!] ? -1 : 1;
    const next = k + 1 < idx.length ? scores[idx[k + 1]!]! : scores[idx[k]!]! + 2e-6;
    if (next === scores[idx[k]!]!) continue;
    if (correct > best) {
      best = correct;
      bestThreshold = (scores[idx[k]!]! + next) / 2;
    }
  }
  return bestThreshold;
}

/** The LFW protocol: for each fold, the threshold chosen on the other folds is applied to it. */
export function tenFoldAccuracy(scores: ArrayLike<number>, same: ArrayLike<number>, fold: ArrayLike<number>): TenFoldResult {
  let folds = 0;
  for (let i = 0; i < fold.length; i++) folds = Math.max(folds, fold[i]! + 1);
  const results: FoldResult[] = [];
  for (let f = 0; f < folds; f++) {
    const threshold = bestAccuracyThreshold(scores, same, (i) => fold[i] !== f);
    let n = 0, correct = 0;
    for (let i = 0; i < scores.length; i++) {
      if (fold[i] !== f) continue;
      n++;
      if ((scores[i]! >= threshold) === Boolean(same[i])) correct++;
    }
    // A slice of a data set can leave a fold empty; it then has nothing to report.
    if (n > 0) results.push({ fold: f, threshold, accuracy: correct / n });
  }
  const mean = results.reduce((s, r) => s + r.accuracy, 0) / results.length;
  const std = Math.sqrt(results.reduce((s, r) => s + (r.accuracy - mean) ** 2, 0) / results.length);
  return { mean, std, folds: results };
}

/**
 * Impostor scores as a fine histogram over [-1, 1], so that 87 million all-pairs scores cost a
 * few megabytes; thresholds read off it are exact to one bin (2e-5 with the default bin count).
 */
export class ScoreHistogram {
  readonly counts: Float64Array;
  total = 0;
  constructor(readonly bins = 100_000, readonly lo = -1, readonly hi = 1) {
    this.counts = new Float64Array(bins);
  }

  binOf(score: number): number {
    const b = Math.floor(((score - this.lo) / (this.hi - this.lo)) * this.bins);
    return b < 0 ? 0 : b >= this.bins ? this.bins - 1 : b;
  }

  add(score: number, weight = 1): void {
    this.counts[this.binOf(score)]! += weight;
    this.total += weight;
  }

  /** Lower edge of bin b. */
  edge(b: number): number {
    return this.lo + ((this.hi - this.lo) * b) / this.bins;
  }

  /** Fraction of scores >= threshold (threshold rounded to a bin edge). */
  fractionAtOrAbove(threshold: number): number {
    const b = this.binOf(threshold);
    let s = 0;
    for (let i = b; i < this.bins; i++) s += this.counts[i]!;
    return this.total ? s / this.total : NaN;
  }

  /**
   * Smallest bin-edge threshold at which at most `rate` of the scores are >= it: the threshold
   * for a target false match rate when these are impostor scores.
   */
  thresholdForRate(rate: number): number {
    const allowed = rate * this.total;
    let above = 0;
    for (let b = this.bins - 1; b >= 0; b--) {
      if (above + this.counts[b]! > allowed) return this.edge(b + 1);
      above += this.counts[b]!;
    }
    return this.lo;
  }
}

/** Threshold for a target rate from raw impostor scores: the smallest t with #(score >= t) <= rate * n. */
export function thresholdForFmr(impostorScores: ArrayLike<number>, fmr: number): number {
  const sorted = Float64Array.from(impostorScores).sort().reverse();
  const allowed = Math.floor(fmr * sorted.length + 1e-9);
  if (allowed >= sorted.length) return -Infinity;
  // Just above the (allowed+1)-th highest score, so exactly `allowed` impostors reach it.
  const v = sorted[allowed]!;
  return v + Math.max(Math.abs(v), 1) * 1e-9;
}

export function fractionAtOrAbove(scores: ArrayLike<number>, threshold: number): number {
  let n = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) n++;
  return scores.length ? n / scores.length : NaN;
}

/** Equal error rate: where FMR (impostors >= t) meets FNMR (genuines < t), by scanning thresholds. */
export function equalErrorRate(genuine: ArrayLike<number>, impostor: ScoreHistogram): { eer: number; threshold: number } {
  const g = Float64Array.from(genuine).sort();
  let best = { eer: 1, threshold: 0, gap: Infinity };
  let above = impostor.total;
  let gi = 0;
  for (let b = 0; b < impostor.bins; b++) {
    const t = impostor.edge(b);
    while (gi < g.length && g[gi]! < t) gi++;
    const fmr = above / impostor.total;
    const fnmr = gi / g.length;
    const gap = Math.abs(fmr - fnmr);
    if (gap < best.gap) best = { eer: (fmr + fnmr) / 2, threshold: t, gap };
    above -= impostor.counts[b]!;
  }
  return { eer: best.eer, threshold: best.threshold };
}
