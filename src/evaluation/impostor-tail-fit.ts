import { lowerBound, maxEventsWithin, upperBound } from '../matching/clopper-pearson.js';
import type { ImpostorTail } from '../matching/impostor-tail.js';
import { fitGpd, gpdExceedance, gpdQuantile } from './gpd.js';
import { seededRandom } from './random.js';

/**
 * The threshold rule: u is the score exceeded by this fraction of the fit half's impostor pairs
 * (about 2,100 exceedances on LFW's fit half), with at least MIN_EXCEEDANCES. A fixed top fraction
 * rather than a data-driven choice, so the rule is the same on every run; the fit's stability at
 * other fractions is reported beside it.
 */
export const TAIL_TOP_FRACTION = 1e-4;
export const TAIL_MIN_EXCEEDANCES = 100;
export const TAIL_REPLICATES = 300;
export const TAIL_CONFIDENCE = 0.95;
/** Fractions at which the fit is repeated to show how much the extrapolation depends on u. */
export const STABILITY_FRACTIONS = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5];

/** A replicate's fit; `u` where the replicate chose its own (the identity bootstrap), else the fit's. */
export interface TailParameters { xi: number; sigma: number; zeta: number; u?: number }

export interface TailFitResult {
  tail: ImpostorTail;
  /** The bootstrap replicates' parameters (u fixed), for intervals at any score. */
  replicates: TailParameters[];
  /** The largest scores fitted on and how many pairs in all: below u the prediction is their own fraction. */
  sample: TailSample;
  /** The fit at other top fractions: shape and the threshold it would give at 1e-7. */
  stability: { topFraction: number; u: number; exceedances: number; xi: number; sigma: number; thresholdAt1e7: number }[];
}

/** Scores of at least `k` largest impostor pairs, descending, and how many impostor pairs in all. */
export interface TailSample {
  top: Float64Array;
  total: number;
  /**
   * Who each top pair is of, for the identity bootstrap: identity indices `a[i]`, `b[i]` of `top[i]`,
   * each identity's number of images fitted, and the identity pairs set aside (their pairs are
   * not in `total`). Without it the bootstrap resamples pairs as independent.
   */
  people?: { a: Int32Array; b: Int32Array; images: ArrayLike<number>; setAside: { a: number; b: number }[] };
}

/**
 * u midway between the k-th and (k+1)-th highest score, so exactly k exceed it; where they tie
 * (scores are 32-bit floats), k moves down to the nearest gap.
 */
function cutAt(top: Float64Array, k: number): { u: number; k: number } {
  while (k > 1 && top[k - 1]! <= top[k]!) k--;
  return { u: (top[k - 1]! + top[k]!) / 2, k };
}

function exceedancesOver(top: Float64Array, k: number, u: number): Float64Array {
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) y[i] = top[i]! - u;
  return y;
}

/** A Poisson draw (normal approximation above 50): the bootstrap's count of pairs above u. */
function poisson(mean: number, rand: () => number): number {
  if (mean > 50) {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return Math.max(1, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0, p = 1;
  do { k++; p *= rand(); } while (p > l);
  return Math.max(1, k - 1);
}

/** The pair bootstrap: the count above u drawn as Poisson, the exceedances resampled as independent. */
function pairReplicate(y: Float64Array, k: number, total: number, rand: () => number): TailParameters {
  const kb = Math.max(10, poisson(k, rand));
  const yb = new Float64Array(kb);
  for (let i = 0; i < kb; i++) yb[i] = y[Math.floor(rand() * k)]!;
  const f = fitGpd(yb);
  return { xi: f.xi, sigma: f.sigma, zeta: kb / total };
}

/**
 * The identity bootstrap: as many identities as were fitted, drawn with replacement. A pair of
 * identities drawn w_a and w_b times counts w_a x w_b times (copies of one person make no impostor
 * pair), so the replicate's total is sum over a < b of w_a w_b n_a n_b, less the pairs set aside.
 * The replicate takes its own u by the same top-fraction rule and refits. Undefined when the kept
 * scores do not reach below its u (never on LFW, where 10 times as many are kept).
 */
function identityReplicate(sample: TailSample, rand: () => number): TailParameters | undefined {
  const { top } = sample;
  const { a, b, images, setAside } = sample.people!;
  const present: number[] = [];
  for (let id = 0; id < images.length; id++) if (images[id]! > 0) present.push(id);
  const w = new Float64Array(images.length);
  for (let m = 0; m < present.length; m++) { const id = present[Math.floor(rand() * present.length)]!; w[id] = w[id]! + 1; }
  let s1 = 0, s2 = 0;
  for (const id of present) { const x = w[id]! * images[id]!; s1 += x; s2 += x * x; }
  let total = (s1 * s1 - s2) / 2;
  for (const p of setAside) total -= w[p.a]! * w[p.b]! * images[p.a]! * images[p.b]!;
  const wanted = Math.max(TAIL_MIN_EXCEEDANCES, TAIL_TOP_FRACTION * total);
  const sc: number[] = [], wt: number[] = [];
  let cum = 0, m = -1;
  for (let i = 0; i < top.length; i++) {
    const weight = w[a[i]!]! * w[b[i]!]!;
    if (weight === 0) continue;
    sc.push(top[i]!); wt.push(weight);
    if (m < 0 && (cum += weight) >= wanted) m = sc.length - 1;
    if (m >= 0 && sc.length > m + 1) break;
  }
  if (m < 0 || sc.length <= m + 1) return undefined;
  // Exactly the pairs down to m exceed u; where scores tie, m moves up to the nearest gap.
  while (m > 0 && sc[m]! <= sc[m + 1]!) m--;
  const u = (sc[m]! + sc[m + 1]!) / 2;
  let kb = 0;
  for (let i = 0; i <= m; i++) kb += wt[i]!;
  if (kb < 10) return undefined;
  const yb = new Float64Array(kb);
  let at = 0;
  for (let i = 0; i <= m; i++) for (let r = 0; r < wt[i]!; r++) yb[at++] = sc[i]! - u;
  const f = fitGpd(yb);
  return { xi: f.xi, sigma: f.sigma, zeta: kb / total, u };
}

/** Below this many false matches allowed under the Clopper-Pearson bound, the pairs do not measure a rate well. */
export const MEASURED_MIN_EVENTS = 10;
/** The significance at which the fitted pairs contradict a rate: more exceedances than it would give this rarely. */
const CONTRADICTION_LEVEL = 0.05;

/**
 * What the fitted pairs themselves say about the threshold for `fmr`. Where they can measure it
 * (the Clopper-Pearson bound allows at least MEASURED_MIN_EVENTS false matches), the smallest
 * threshold at which their count keeps the upper 95% bound at or below `fmr`. Where they cannot,
 * the smallest threshold at which they do not contradict it: the count at or above it is one a
 * rate of `fmr` gives at least 5% of the time (Poisson). The first is a bound; the second only
 * keeps the model from being believed where its own data say otherwise, without letting the few
 * most extreme pairs decide.
 */
function measuredThreshold(top: Float64Array, total: number, fmr: number): number | undefined {
  const allowed = maxEventsWithin(total, fmr);
  const k = allowed >= MEASURED_MIN_EVENTS ? allowed : largestPlausibleCount(fmr * total);
  if (k >= top.length) return undefined;
  // Just above the (k + 1)-th highest score, on the 6-decimal grid the table is written in.
  return Math.floor(top[k]! * 1e6) / 1e6 + 1e-6;
}

/** The largest count c with P(X >= c) >= CONTRADICTION_LEVEL for X ~ Poisson(mean). */
function largestPlausibleCount(mean: number): number {
  // P(X >= c) = 1 - P(X <= c - 1); step c up while the tail stays at or above the level.
  let pmf = Math.exp(-mean), cdfBelow = 0, c = 0;
  for (;;) {
    const tailFromNext = 1 - (cdfBelow + pmf); // P(X >= c + 1)
    if (tailFromNext < CONTRADICTION_LEVEL) return c;
    cdfBelow += pmf;
    c++;
    pmf *= mean / c;
  }
}

export function exceedancesFor(total: number, topFraction = TAIL_TOP_FRACTION): number {
  return Math.max(TAIL_MIN_EXCEEDANCES, Math.round(topFraction * total));
}

/**
 * Peaks over threshold on the fit half's impostor scores. The interval is a bootstrap over pairs
 * (taken as independent, as the Clopper-Pearson bounds do): the count above u drawn as Poisson,
 * the exceedances resampled, the GPD refitted; the conservative threshold for an FMR is the upper
 * `confidence` quantile of the replicates' thresholds. Undefined when the sample is too small.
 */
export function fitImpostorTail(sample: TailSample, o: {
  strictestMeasuredFmr: number; fittedOn: string; replicates?: number; seed?: number;
  /** The whole-tail rule: the points also carry the fitted pairs' own measured bound, and the table says how identification uses them. */
  wholeTail?: { setAside: NonNullable<ImpostorTail['setAside']> };
}): TailFitResult | undefined {
  const { top, total } = sample;
  const wanted = exceedancesFor(total);
  if (top.length <= wanted || wanted > total / 10) return undefined;
  const { u, k } = cutAt(top, wanted);
  const y = exceedancesOver(top, k, u);
  const fit = fitGpd(y);
  const zeta = k / total;
  const rand = seededRandom(o.seed ?? 23);
  const B = o.replicates ?? TAIL_REPLICATES;
  let replicates: TailParameters[] = [];
  for (let b = 0; b < B; b++) {
    const r = sample.people ? identityReplicate(sample, rand) : pairReplicate(y, k, total, rand);
    if (r) replicates.push(r);
  }
  // Too few people for their replicates to reach below u (a small data set): pairs, and the table says so.
  const byIdentity = Boolean(sample.people) && replicates.length >= B / 2;
  if (!byIdentity && sample.people) replicates = Array.from({ length: B }, () => pairReplicate(y, k, total, rand));
  const limit = Math.max(o.strictestMeasuredFmr / 100, 0.1 / total);
  const fmrs: number[] = [];
  for (let e = Math.round(-Math.log10(o.strictestMeasuredFmr) * 4) - 4; 10 ** (-e / 4) >= limit * (1 - 1e-9); e++) fmrs.push(10 ** (-e / 4));
  if (fmrs[fmrs.length - 1]! > limit * (1 + 1e-9)) fmrs.push(limit);
  const upperIndex = Math.min(replicates.length - 1, Math.ceil(TAIL_CONFIDENCE * replicates.length) - 1);
  let previous = -Infinity;
  const points = fmrs.filter((p) => p < zeta).map((p) => {
    const qs = replicates.map((r) => gpdQuantile(r, r.u ?? u, r.zeta, p)).sort((a, b) => a - b);
    const modelBound = qs[upperIndex]!;
    const measuredBound = o.wholeTail ? measuredThreshold(top, total, p) : undefined;
    // Never looser for a stricter target: the bound is made non-decreasing down the grid.
    previous = Math.max(previous, modelBound, measuredBound ?? -Infinity);
    return {
      fmr: Number(p.toPrecision(4)), threshold: round6(previous), pointEstimate: round6(gpdQuantile(fit, u, zeta, p)),
      ...(o.wholeTail ? { modelBound: round6(modelBound), ...(measuredBound !== undefined ? { measuredBound: round6(measuredBound) } : {}) } : {}),
    };
  });
  const stability = STABILITY_FRACTIONS.flatMap((f) => {
    const want = Math.max(30, Math.round(f * total));
    if (top.length <= want || want > total / 10) return [];
    const { u: uf, k: kf } = cutAt(top, want);
    const ff = fitGpd(exceedancesOver(top, kf, uf));
    return [{ topFraction: f, u: round6(uf), exceedances: kf, xi: round6(ff.xi), sigma: round6(ff.sigma), thresholdAt1e7: round6(gpdQuantile(ff, uf, kf / total, 1e-7)) }];
  });
  const tail: ImpostorTail = {
    model: 'generalized-pareto',
    method: `Peaks over threshold: u is the score exceeded by a fraction ${TAIL_TOP_FRACTION} of the impostor pairs fitted (at least ${TAIL_MIN_EXCEEDANCES}); the exceedances are fitted by a generalized Pareto distribution (maximum likelihood, Grimshaw's profile); the conservative threshold for a per-comparison FMR is the upper ${TAIL_CONFIDENCE * 100}% quantile of ${B} bootstrap refits (${byIdentity
      ? 'identities resampled with replacement, each replicate taking every pair of the people drawn, so that pairs sharing a person or a family move together, and choosing its own u by the same rule'
      : 'pairs resampled as independent, the count above u drawn as Poisson'})${o.wholeTail
      ? `, and never below what the fitted pairs show themselves: where the upper 95% Clopper-Pearson bound allows them at least ${MEASURED_MIN_EVENTS} false matches, the threshold that bound gives; below that, the threshold under which they would contradict the FMR (more pairs above it than the FMR gives 5% of the time). Identification uses it below the strictest point the table measures on at least 100 false matches, held at or above that point`
      : '. Used only below the measured range'} and no lower than the extrapolation limit (two decades below the strictest measured target, and 1 / (10 x impostor pairs fitted)).`,
    fittedOn: o.fittedOn,
    u: round6(u), zeta: Number(zeta.toPrecision(6)), exceedances: k, impostorPairs: total,
    xi: round6(fit.xi), sigma: round6(fit.sigma), replicates: B, confidence: TAIL_CONFIDENCE,
    bootstrap: byIdentity ? 'identities' : 'pairs',
    ...(o.wholeTail ? { rule: 'whole-tail' as const, setAside: o.wholeTail.setAside } : {}),
    extrapolationLimit: Number(limit.toPrecision(4)),
    points,
  };
  return { tail, replicates, stability, sample };
}

/** The tail's FMR at a score: point estimate and the central 95% interval of the replicates. */
export function tailFmrAt(r: TailFitResult, score: number): { fmr: number; low: number; high: number } {
  const { u, zeta, xi, sigma } = r.tail;
  if (score < u) {
    // Below u the model says nothing: the fit half's own fraction at or above the score, with its interval.
    const { top, total } = r.sample;
    if (!(score >= top[top.length - 1]!)) return { fmr: NaN, low: NaN, high: NaN };
    let k = 0;
    while (k < top.length && top[k]! >= score) k++;
    return { fmr: k / total, low: lowerBound(k, total, 0.975), high: upperBound(k, total, 0.975) };
  }
  const qs = r.replicates.map((p) => gpdExceedance(p, p.u ?? u, p.zeta, score)).sort((a, b) => a - b);
  const at = (q: number) => qs[Math.min(qs.length - 1, Math.max(0, Math.round(q * (qs.length - 1))))]!;
  return { fmr: gpdExceedance({ xi, sigma }, u, zeta, score), low: at(0.025), high: at(0.975) };
}

/** The score at which the fitted tail (point estimate) gives a per-comparison FMR. */
export function tailPointThreshold(r: TailFitResult, fmr: number): number {
  return gpdQuantile(r.tail, r.tail.u, r.tail.zeta, fmr);
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
