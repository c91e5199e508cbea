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
   * The smallest per-comparison FMR the model may speak for: two decades below the strictest
   * measured target and no lower than 1 / (10 x impostor pairs fitted). Beyond it nothing is promised.
   */
  extrapolationLimit: number;
  /**
   * Thresholds on a quarter-decade grid of FMRs, from inside the measured range down to the limit:
   * `threshold` is the conservative one (the upper confidence bound of the bootstrap quantiles),
   * `pointEstimate` the fit's own.
   */
  points: { fmr: number; threshold: number; pointEstimate: number }[];
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
