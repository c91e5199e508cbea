/**
 * The generalized Pareto distribution (GPD) of exceedances over a high threshold u, fitted by
 * maximum likelihood: the peaks-over-threshold model of extreme-value theory. For y = x - u > 0,
 * P(Y > y) = (1 + xi y / sigma)^(-1/xi), and (xi = 0) exp(-y / sigma).
 */
export interface GpdFit {
  /** Shape: below 0 the tail has a finite end (u - sigma / xi), as cosine similarities do. */
  xi: number;
  /** Scale. */
  sigma: number;
  logLikelihood: number;
}

/** The shape is held at or above this: below -1 the likelihood has no maximum (it grows without bound at the sample's end). */
const MIN_XI = -1;

/**
 * Maximum-likelihood GPD fit to exceedances (all > 0), by Grimshaw's profile: with theta = xi / sigma,
 * the likelihood's maximum over (xi, sigma) for a given theta is at xi = mean(log(1 + theta y)),
 * sigma = xi / theta, leaving a one-dimensional search over theta. A grid finds the bracket, golden
 * section refines it.
 */
export function fitGpd(exceedances: ArrayLike<number>): GpdFit {
  const k = exceedances.length;
  if (k < 10) throw new Error(`a tail fit needs at least 10 exceedances, got ${k}`);
  let max = 0, sum = 0;
  for (let i = 0; i < k; i++) {
    const y = exceedances[i]!;
    if (!(y > 0)) throw new Error(`exceedances must be above the threshold, got ${y}`);
    if (y > max) max = y;
    sum += y;
  }
  const mean = sum / k;
  const xiOf = (theta: number) => {
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.log1p(theta * exceedances[i]!);
    return s / k;
  };
  const profile = (theta: number) => {
    if (Math.abs(theta) < 1e-12 / max) return -k * Math.log(mean) - k; // the exponential limit
    const xi = xiOf(theta);
    if (!(xi >= MIN_XI) || !(xi / theta > 0)) return -Infinity;
    return -k * Math.log(xi / theta) - k * xi - k;
  };
  // theta in (-1/max, +inf): a grid on both sides of 0, then golden section around the best.
  const grid: number[] = [];
  for (let i = 1; i < 60; i++) grid.push((-1 / max) * (1 - (i / 60) ** 2));
  for (let i = -40; i < 0; i += 2) if ((10 ** (i / 10)) / mean < 1 / max) grid.push(-(10 ** (i / 10)) / mean);
  grid.push(0);
  for (let i = -40; i <= 40; i += 2) grid.push((10 ** (i / 10)) / mean);
  grid.sort((a, b) => a - b);
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (profile(grid[i]!) > profile(grid[best]!)) best = i;
  let lo = grid[Math.max(0, best - 1)]!, hi = grid[Math.min(grid.length - 1, best + 1)]!;
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo), b = lo + g * (hi - lo);
  let fa = profile(a), fb = profile(b);
  for (let it = 0; it < 80 && hi - lo > 1e-12 * (Math.abs(lo) + Math.abs(hi) + 1e-12); it++) {
    if (fa < fb) { lo = a; a = b; fa = fb; b = lo + g * (hi - lo); fb = profile(b); }
    else { hi = b; b = a; fb = fa; a = hi - g * (hi - lo); fa = profile(a); }
  }
  let theta = (lo + hi) / 2;
  if (profile(grid[best]!) > profile(theta)) theta = grid[best]!;
  if (Math.abs(theta) < 1e-12 / max) return { xi: 0, sigma: mean, logLikelihood: profile(0) };
  const xi = xiOf(theta);
  return { xi, sigma: xi / theta, logLikelihood: profile(theta) };
}

/** P(X > x) for x >= u, as a fraction of all scores: zeta (the fraction above u) times the GPD's survival. */
export function gpdExceedance(fit: Pick<GpdFit, 'xi' | 'sigma'>, u: number, zeta: number, x: number): number {
  const y = x - u;
  if (y <= 0) return zeta;
  if (Math.abs(fit.xi) < 1e-12) return zeta * Math.exp(-y / fit.sigma);
  const base = 1 + (fit.xi * y) / fit.sigma;
  return base <= 0 ? 0 : zeta * Math.exp(-Math.log(base) / fit.xi);
}

/** The score exceeded by a fraction p (< zeta) of all scores: the threshold for FMR p. */
export function gpdQuantile(fit: Pick<GpdFit, 'xi' | 'sigma'>, u: number, zeta: number, p: number): number {
  if (p >= zeta) return u;
  const l = Math.log(zeta / p);
  // expm1 keeps a shape near 0 exact: sigma / xi * (e^(xi l) - 1) -> sigma l.
  if (Math.abs(fit.xi) < 1e-12) return u + fit.sigma * l;
  return u + (fit.sigma / fit.xi) * Math.expm1(fit.xi * l);
}
