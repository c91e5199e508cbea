import { nearestCentroid, normaliseScore, type ScoreNormaliser } from '../matching/score-normaliser.js';
import { forEachPair } from './all-pairs.js';
import { sphericalKMeans } from './clusters.js';
import type { IdentityLabels } from './demographics.js';
import { groupOutcome, identityOutcomes, type GroupOutcome, type PairSource } from './fairness.js';
import { ScoreHistogram } from './metrics.js';

export interface MitigationInput {
  model: string;
  vectors: Float32Array;
  dim: number;
  n: number;
  owner: number[];
  identities: string[];
  ok: boolean[];
  scores: Float32Array;
  labels: Map<string, IdentityLabels>;
  targetFmr: number;
  /** Groups rates are reported for and the worst-group threshold protects: race by default. */
  groupOf: (l: IdentityLabels) => string;
  /** Fair score normalisation settings to choose among, by an inner split of the fit half. */
  fsnGrid: { clusters: number; clusterFmr: number }[];
  minImpostorPairs: number;
}

/** FMR at which candidate settings are compared on the inner split: quarter-size groups cannot support 1e-4. */
const SELECTION_FMR = 1e-3;

export interface ConfigurationReport {
  name: string;
  description: string;
  threshold: number;
  overall: { fmr: number; tar: number };
  groups: (GroupOutcome & { group: string; enough: boolean })[];
  fmrMaxMinRatio: number | null;
  /**
   * The same scores at the threshold that gives exactly the target FMR overall on the report
   * half: not deployable (it peeks), but it compares methods at equal overall FMR, so a change
   * in the ratio or TAR is not just a change in how strict the threshold turned out to be.
   */
  atMatchedFmr: { threshold: number; overall: { fmr: number; tar: number }; fmrMaxMinRatio: number | null };
}

export interface MitigationReport {
  split: string;
  fitIdentities: number;
  reportIdentities: number;
  targetFmr: number;
  configurations: ConfigurationReport[];
  normaliser: ScoreNormaliser;
  /** How the normalisation's settings were chosen without looking at the report half. */
  selection: { fmr: number; candidates: { clusters: number; clusterFmr: number; ratio: number | null }[]; chosen: { clusters: number; clusterFmr: number } };
}

/** Max/min FMR over the groups with enough pairs; null where fewer than two, or one is zero. */
function ratioOf(groups: { enough: boolean; fmr: number }[]): number | null {
  const usable = groups.filter((g) => g.enough);
  if (usable.length < 2 || usable.some((g) => !(g.fmr > 0))) return null;
  const fmrs = usable.map((g) => g.fmr);
  return Math.max(...fmrs) / Math.min(...fmrs);
}

/**
 * A stable hash of a name (FNV-1a, then murmur3's finaliser so every output bit depends on every
 * input bit: FNV's low bit alone is only the parity of the characters). Bit 0 splits identities
 * into fit and report halves, bit 1 splits the fit half again for choosing settings.
 */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Fit each mitigation on one half of the identities and report it on the other, disjoint half,
 * beside the plain global threshold fitted the same way.
 */
export function mitigate(m: MitigationInput): MitigationReport {
  const unknown: IdentityLabels = { sex: 'unknown', race: 'unknown', age_group: 'unknown' };
  function groupMembersOf(include: boolean[]): Map<string, number[]> {
    const present = new Set<number>();
    m.owner.forEach((id, i) => { if (include[i]) present.add(id); });
    const groups = new Map<string, number[]>();
    for (const id of present) {
      const g = m.groupOf(m.labels.get(m.identities[id]!) ?? unknown);
      const list = groups.get(g);
      if (list) list.push(id);
      else groups.set(g, [id]);
    }
    return groups;
  }
  const hashes = m.identities.map(nameHash);
  const side = hashes.map((h) => h & 1);
  const fit = m.owner.map((id, i) => m.ok[i]! && side[id] === 0);
  const report = m.owner.map((id, i) => m.ok[i]! && side[id] === 1);

  const source = (include: boolean[], transform?: (i: number, j: number, s: number) => number): PairSource => ({
    n: m.n, owner: m.owner, include,
    forEach: (visit) => forEachPair(m.scores, m.n, (i, j, s) => {
      if (include[i] && include[j]) visit(i, j, transform ? transform(i, j, s) : s);
    }),
  });
  const impostorThreshold = (src: PairSource, fmr: number) => {
    const h = new ScoreHistogram(100_000, -2, 2);
    src.forEach((i, j, s) => { if (m.owner[i] !== m.owner[j]) h.add(s); });
    return h.thresholdForRate(fmr);
  };

  // Global threshold, fitted on the fit half.
  const rawFit = source(fit);
  const rawThreshold = impostorThreshold(rawFit, m.targetFmr);

  // Fair score normalisation: clusters and their offsets from the fit half only.
  const fitFsn = (include: boolean[], clusters: number, clusterFmr: number) => {
    const rows = include.map((f, i) => (f ? i : -1)).filter((i) => i >= 0);
    const { centroids } = sphericalKMeans(m.vectors, rows, m.dim, clusters);
    const cluster = Int32Array.from({ length: m.n }, (_, i) => nearestCentroid(m.vectors.subarray(i * m.dim, (i + 1) * m.dim), centroids, clusters, m.dim));
    const src = source(include);
    const globalAtClusterFmr = impostorThreshold(src, clusterFmr);
    const perCluster = Array.from({ length: clusters }, () => new ScoreHistogram(20_000));
    src.forEach((i, j, s) => {
      if (m.owner[i] !== m.owner[j] && cluster[i] === cluster[j]) perCluster[cluster[i]!]!.add(s);
    });
    const offsets = perCluster.map((h) =>
      // Too few pairs to measure this cluster's threshold: leave its scores as they are.
      h.total * clusterFmr >= 3 ? (h.thresholdForRate(clusterFmr) - globalAtClusterFmr) / 2 : 0,
    );
    const normaliser: ScoreNormaliser = {
      model: m.model, dimension: m.dim, clusters, centroids: Array.from(centroids, (v) => Math.round(v * 1e6) / 1e6),
      offsets: offsets.map((v) => Math.round(v * 1e6) / 1e6), clusterFmr,
      fittedOn: `${rows.length} images of the fit half of the identities`,
    };
    return { normaliser, transform: (i: number, j: number, s: number) => normaliseScore(normaliser, s, cluster[i]!, cluster[j]!) };
  };

  // Settings are chosen on an inner split of the fit half (fit on one part, compare the race
  // FMR ratio at equal FMR on the other), so the report half stays unseen until the end.
  const innerSide = hashes.map((h) => (h >>> 1) & 1);
  const innerFit = fit.map((f, i) => f && innerSide[m.owner[i]!] === 0);
  const innerCheck = fit.map((f, i) => f && innerSide[m.owner[i]!] === 1);
  const candidates = m.fsnGrid.map((c) => {
    const { transform } = fitFsn(innerFit, c.clusters, c.clusterFmr);
    const src = source(innerCheck, transform);
    const o = identityOutcomes(src, m.identities.length, impostorThreshold(src, SELECTION_FMR));
    const rates = [...groupMembersOf(innerCheck)]
      .filter(([g]) => !g.split(' ').includes('unknown'))
      .map(([, members]) => groupOutcome(o, members, 0))
      .map((r) => ({ fmr: r.fmr, enough: r.impostorPairs >= 3 / SELECTION_FMR }));
    return { ...c, ratio: ratioOf(rates) };
  });
  const best = candidates.reduce((a, b) => ((b.ratio ?? Infinity) < (a.ratio ?? Infinity) ? b : a));
  const chosen = { clusters: best.clusters, clusterFmr: best.clusterFmr };
  const { normaliser, transform: fsn } = fitFsn(fit, chosen.clusters, chosen.clusterFmr);
  const fsnThreshold = impostorThreshold(source(fit, fsn), m.targetFmr);

  // Worst-group threshold: the lowest threshold at which every group with enough pairs stays
  // at the target on the fit half. Labels are used to fit it, never at run time.
  const fitGroups = groupMembersOf(fit);
  const worstFmr = (t: number) => {
    const o = identityOutcomes(rawFit, m.identities.length, t);
    let worst = 0;
    for (const [g, members] of fitGroups) {
      if (g.split(' ').includes('unknown')) continue;
      const r = groupOutcome(o, members, 0);
      if (r.impostorPairs >= m.minImpostorPairs) worst = Math.max(worst, r.fmr);
    }
    return worst;
  };
  let lo = rawThreshold, hi = 1;
  for (let it = 0; it < 14; it++) {
    const mid = (lo + hi) / 2;
    if (worstFmr(mid) <= m.targetFmr) hi = mid;
    else lo = mid;
  }
  const worstGroupThreshold = worstFmr(rawThreshold) <= m.targetFmr ? rawThreshold : hi;

  const reportGroups = groupMembersOf(report);
  const everyone = [...new Set(m.owner.filter((_, i) => report[i]))];
  const atThreshold = (src: PairSource, threshold: number, replicates: number) => {
    const o = identityOutcomes(src, m.identities.length, threshold);
    const all = groupOutcome(o, everyone, 0);
    const groups = [...reportGroups].sort(([a], [b]) => a.localeCompare(b)).map(([group, members]) => {
      const r = groupOutcome(o, members, replicates);
      return { group, ...r, enough: r.impostorPairs >= m.minImpostorPairs && !group.split(' ').includes('unknown') };
    });
    return { overall: { fmr: all.fmr, tar: 1 - all.fnmr }, groups, fmrMaxMinRatio: ratioOf(groups) };
  };
  const describe = (name: string, description: string, src: PairSource, threshold: number): ConfigurationReport => {
    const fitted = atThreshold(src, threshold, 1000);
    const matchedThreshold = impostorThreshold(src, m.targetFmr);
    const matched = atThreshold(src, matchedThreshold, 0);
    return {
      name, description, threshold, ...fitted,
      atMatchedFmr: { threshold: matchedThreshold, overall: matched.overall, fmrMaxMinRatio: matched.fmrMaxMinRatio },
    };
  };
  return {
    split: 'identities split in two by a hash of their name; every threshold and cluster is fitted on the first half and reported on the second',
    fitIdentities: new Set(m.owner.filter((_, i) => fit[i])).size,
    reportIdentities: new Set(m.owner.filter((_, i) => report[i])).size,
    targetFmr: m.targetFmr,
    normaliser,
    selection: { fmr: SELECTION_FMR, candidates, chosen },
    configurations: [
      describe('global threshold', 'One threshold for everyone, set for the target FMR on the fit half (the baseline).', source(report), rawThreshold),
      describe('fair score normalisation', `Scores shifted by unsupervised cluster offsets (${chosen.clusters} clusters, offsets at FMR ${chosen.clusterFmr}, chosen on an inner split of the fit half); no demographic label is used at run time.`, source(report, fsn), fsnThreshold),
      describe('worst-group threshold', 'One threshold for everyone, raised until every labelled group with enough pairs stays at the target FMR on the fit half.', source(report), worstGroupThreshold),
    ],
  };
}
