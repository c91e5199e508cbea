import { thresholdBetweenPoints } from './log-linear.js';

/**
 * A fitted model of the impostor score distribution's upper tail, stored in a calibration table,
 * so that identification in a large gallery can use a threshold for a per-comparison FMR below
 * what the impostor pairs could measure directly. It is an extrapolation and answers say so.
 */
export interface ImpostorTail {
  model: 'generalized-pareto';
  /** How it was fitted, in words: threshold rule, likelihood, interval. */
  method: string;
  /** What it was fitted on: the half of the identities, its impostor pairs, what was set aside. */
  fittedOn: string;
  /** The threshold u over which scores were modelled, and the fraction of impostor pairs above it. */
  u: number;
  zeta: number;
  exceedances: number;
  impostorPairs: number;
  /** Maximum-likelihood shape and scale. */
  xi: number;
  sigma: number;
  /** Bootstrap replicates behind the bound, and the bound's one-sided confidence. */
  replicates: number;
  confidence: number;
  /**
   * What the bootstrap resampled: `identities` (people drawn with replacement, so that every pair
   * of a person, or of a family, moves together: the honest unit, since pairs that share a person
   * are not independent) or `pairs` (each pair taken as independent; tables fitted before the
   * identity bootstrap). Absent on older tables: `pairs`.
   */
  bootstrap?: 'identities' | 'pairs';
  /**
   * How identification uses the tail. `whole-tail`: below the strictest point the table measures
   * well (a point estimate on at least 100 false matches), the threshold is this tail's
   * conservative one, held only at or above that well-measured point; the table's thin points
   * (an upper bound on a few dozen pairs, which duplicate labels decide) do not set it.
   * Absent (older tables): the tail is held at or above the table's strictest point, whatever its basis.
   */
  rule?: 'whole-tail';
  /**
   * Identity pairs left out of the impostor pairs fitted, each by name with its best cross score and
   * why: they look like one person under two names (a duplicate label or a mislabelled photograph),
   * so their pairs are not impostor pairs. Relatives are not left out.
   */
  setAside?: { names: [string, string]; bestScore: number; reason: string }[];
  /**
   * The smallest per-comparison FMR the model may speak for: two decades below the strictest
   * measured target and no lower than 1 / (10 x impostor pairs fitted). Beyond it nothing is promised.
   */
  extrapolationLimit: number;
  /**
   * Thresholds on a quarter-decade grid of FMRs, from inside the measured range down to the limit:
   * `threshold` is the conservative one used, `pointEstimate` the fit's own. With the whole-tail
   * rule `threshold` is the larger of `modelBound` (the upper confidence bound of the bootstrap
   * quantiles) and `measuredBound` (what the fitted pairs show: their upper 95% Clopper-Pearson
   * threshold where it allows at least 10 false matches, below that the threshold under which
   * they would contradict the FMR at 5%), made non-decreasing down the grid.
   */
  points: { fmr: number; threshold: number; pointEstimate: number; modelBound?: number; measuredBound?: number }[];
}

/**
 * The tail model's conservative threshold for a per-comparison FMR, log-linear between grid points;
 * undefined beyond the extrapolation limit (or above the grid).
 */
export function tailThreshold(tail: ImpostorTail, fmr: number): number | undefined {
  const pts = [...tail.points].sort((a, b) => b.fmr - a.fmr);
  const eps = 1e-9;
  if (fmr < tail.extrapolationLimit * (1 - eps)) return undefined;
  return thresholdBetweenPoints(pts, fmr);
}
