import { seededRandom } from './random.js';

/**
 * What happened to each identity at one threshold: its images, its genuine pairs and how many
 * of them were missed, and every impostor hit between two identities. Group rates and their
 * bootstrap intervals are computed from these without another pass over the pairs.
 */
export interface IdentityOutcomes {
  identities: number;
  images: Float64Array;
  genuine: Float64Array;
  misses: Float64Array;
  /** Impostor pairs at or above the threshold, keyed a * identities + b with a < b. */
  hits: Map<number, number>;
}

export interface PairSource {
  /** Number of images. */
  n: number;
  /** Identity index of each image. */
  owner: ArrayLike<number>;
  /** Whether each image takes part (templated, and in the subset under study). */
  include: ArrayLike<boolean>;
  /** Visit every pair i < j of included images with its score. */
  forEach(visit: (i: number, j: number, score: number) => void): void;
}

export function identityOutcomes(src: PairSource, identities: number, threshold: number): IdentityOutcomes {
  const images = new Float64Array(identities), genuine = new Float64Array(identities), misses = new Float64Array(identities);
  const hits = new Map<number, number>();
  for (let i = 0; i < src.n; i++) if (src.include[i]) images[src.owner[i]!]!++;
  src.forEach((i, j, s) => {
    const a = src.owner[i]!, b = src.owner[j]!;
    if (a === b) {
      genuine[a]!++;
      if (s < threshold) misses[a]!++;
    } else if (s >= threshold) {
      const key = a < b ? a * identities + b : b * identities + a;
      hits.set(key, (hits.get(key) ?? 0) + 1);
    }
  });
  return { identities, images, genuine, misses, hits };
}

export interface Interval {
  low: number;
  high: number;
}

export interface GroupOutcome {
  identities: number;
  genuinePairs: number;
  impostorPairs: number;
  fmr: number;
  fnmr: number;
  /** 95% bootstrap intervals, resampling identities (pairs that share a person are not independent). */
  fmrCi: Interval;
  fnmrCi: Interval;
  /** FNMR with every identity weighted equally, beside the per-pair figure. */
  fnmrPerIdentity: number;
  /** Share of the group's genuine pairs that come from its largest identity. */
  largestIdentityShare: number;
  fnmrWithoutLargest: number;
  /** FMR with the one pair of identities that causes most false matches left out. */
  fmrWithoutWorstPair: number;
}

/**
 * FMR over impostor pairs where both people are in `members`, FNMR over their genuine pairs,
 * with intervals from `replicates` bootstrap draws of the members.
 */
export function groupOutcome(o: IdentityOutcomes, members: number[], replicates = 1000, seed = 1): GroupOutcome {
  return groupOutcomeWithDraws(o, members, replicates, seed).outcome;
}

/**
 * As `groupOutcome`, also returning the FMR of every bootstrap draw in order (NaN where a draw
 * had no impostor pair), so that a statistic over several disjoint groups, such as their
 * max/min ratio, can be bootstrapped draw by draw.
 */
export function groupOutcomeWithDraws(o: IdentityOutcomes, members: number[], replicates = 1000, seed = 1): { outcome: GroupOutcome; fmrDraws: number[] } {
  const inGroup = new Uint8Array(o.identities);
  for (const m of members) inGroup[m] = 1;
  const groupHits: [number, number, number][] = [];
  for (const [key, count] of o.hits) {
    const a = Math.floor(key / o.identities), b = key % o.identities;
    if (inGroup[a] && inGroup[b]) groupHits.push([a, b, count]);
  }
  const rates = (w: (id: number) => number) => {
    let sumN = 0, sumN2 = 0, gen = 0, miss = 0;
    for (const m of members) {
      const wm = w(m);
      if (!wm) continue;
      sumN += wm * o.images[m]!;
      sumN2 += wm * o.images[m]! ** 2;
      gen += wm * o.genuine[m]!;
      miss += wm * o.misses[m]!;
    }
    let hit = 0;
    for (const [a, b, c] of groupHits) hit += w(a) * w(b) * c;
    // Impostor pairs among the drawn identities: all cross-identity pairs, each unordered once.
    const impostorPairs = (sumN * sumN - sumN2) / 2;
    return { fmr: impostorPairs ? hit / impostorPairs : NaN, fnmr: gen ? miss / gen : NaN, impostorPairs, gen };
  };
  const point = rates(() => 1);

  const rand = seededRandom(seed);
  const weights = new Float64Array(o.identities);
  const fmrDraws: number[] = [], fnmrs: number[] = [];
  for (let r = 0; r < replicates && members.length > 1; r++) {
    weights.fill(0);
    for (let k = 0; k < members.length; k++) weights[members[Math.floor(rand() * members.length)]!]!++;
    const b = rates((id) => weights[id]!);
    fmrDraws.push(b.fmr);
    if (Number.isFinite(b.fnmr)) fnmrs.push(b.fnmr);
  }
  const fmrs = fmrDraws.filter((v) => Number.isFinite(v));

  let perIdentity = 0, counted = 0, largest = -1;
  for (const m of members) {
    if (o.genuine[m]! > 0) {
      perIdentity += o.misses[m]! / o.genuine[m]!;
      counted++;
      if (largest < 0 || o.genuine[m]! > o.genuine[largest]!) largest = m;
    }
  }
  const withoutLargest = rates((id) => (id === largest ? 0 : 1));
  let worst: [number, number, number] | undefined;
  for (const h of groupHits) if (!worst || h[2] > worst[2]) worst = h;
  const hitTotal = groupHits.reduce((s, h) => s + h[2], 0);
  const fmrWithoutWorstPair = point.impostorPairs ? (hitTotal - (worst?.[2] ?? 0)) / point.impostorPairs : NaN;

  const outcome: GroupOutcome = {
    identities: members.length,
    genuinePairs: point.gen,
    impostorPairs: point.impostorPairs,
    fmr: point.fmr,
    fnmr: point.fnmr,
    fmrCi: percentileInterval(fmrs),
    fnmrCi: percentileInterval(fnmrs),
    fnmrPerIdentity: counted ? perIdentity / counted : NaN,
    largestIdentityShare: largest >= 0 && point.gen ? o.genuine[largest]! / point.gen : NaN,
    fnmrWithoutLargest: withoutLargest.fnmr,
    fmrWithoutWorstPair,
  };
  return { outcome, fmrDraws };
}

export function percentileInterval(samples: number[], level = 0.95): Interval {
  if (!samples.length) return { low: NaN, high: NaN };
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
  return { low: at((1 - level) / 2), high: at(1 - (1 - level) / 2) };
}
