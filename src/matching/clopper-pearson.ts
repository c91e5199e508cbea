/**
 * Exact (Clopper-Pearson) binomial bounds, for false match rates measured on thin data: with
 * k false matches among n impostor pairs, the one-sided upper 95% bound is the rate p at which
 * seeing k or fewer would happen only 5% of the time, P(X <= k; n, p) = 0.05. It treats pairs as
 * independent; pairs that share a person are not, so the bound is a floor on the uncertainty.
 */

/** ln Gamma(x), Lanczos (g = 7, 9 terms): relative error about 1e-15. */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 200_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-13) return h;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function regularisedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(X <= k) for X ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  return 1 - regularisedBeta(p, k + 1, n - k);
}

/** One-sided upper `confidence` bound on a rate with k events in n trials (Clopper-Pearson). */
export function upperBound(k: number, n: number, confidence = 0.95): number {
  if (!(n > 0)) return 1;
  if (k >= n) return 1;
  const alpha = 1 - confidence;
  if (k === 0) return -Math.expm1(Math.log(alpha) / n);
  // P(X <= k; n, p) falls as p rises: bisect for the p where it reaches alpha.
  let lo = k / n, hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-15 * Math.max(hi, 1e-300); i++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** One-sided lower `confidence` bound (Clopper-Pearson): 0 when there are no events. */
export function lowerBound(k: number, n: number, confidence = 0.95): number {
  if (k <= 0 || !(n > 0)) return 0;
  return 1 - upperBound(n - k, n, confidence);
}

/**
 * The most events n trials may show while the upper bound stays at or below `target`; -1 when
 * even none would not show it (n too small for the target).
 */
export function maxEventsWithin(n: number, target: number, confidence = 0.95): number {
  if (upperBound(0, n, confidence) > target) return -1;
  // upperBound(k) <= target  <=>  P(X <= k; n, target) <= alpha, monotone in k.
  const alpha = 1 - confidence;
  let lo = 0, hi = Math.max(0, Math.min(n, Math.floor(n * target)));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (binomialCdf(mid, n, target) <= alpha) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Fewest trials for which no event would bring the upper bound to `target`. */
export function trialsToShow(target: number, confidence = 0.95): number {
  return Math.ceil(Math.log(1 - confidence) / Math.log1p(-target));
}
