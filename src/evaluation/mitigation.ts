import { CohortSimilarities, cohortNormalisedScore, type CohortSettings } from '../matching/cohort-normaliser.js';
import { normaliseScore, type ScoreNormaliser } from '../matching/score-normaliser.js';
import { sphericalKMeans } from './clusters.js';
import type { IdentityLabels } from './demographics.js';
import { groupOutcome, groupOutcomeWithDraws, identityOutcomes, percentileInterval, type GroupOutcome, type Interval, type PairSource } from './fairness.js';
import { forEachDotBlock, nearestTargets, transpose } from './matmul.js';
import { ScoreHistogram } from './metrics.js';
import { seededRandom } from './random.js';

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
  /** Balanced-cohort normalisation settings to choose among, the same way. */
  cohortGrid: CohortSettings[];
  minImpostorPairs: number;
}

/** Fewest people a group needs in the fit half to be drawn into the cohort when the groups with enough pairs are too few. */
const MIN_COHORT_PEOPLE_PER_GROUP = 10;

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
   * 95% interval of that ratio from the same bootstrap over identities (each group's people
   * redrawn); a high end of null means some draws left the best group with no false match.
   */
  fmrMaxMinRatioCi: { low: number | null; high: number | null } | null;
  /** FNMR max/min over the same groups: where a mitigation moves the differential to. */
  fnmrMaxMinRatio: number | null;
  /**
   * The same scores at the threshold that gives exactly the target FMR overall on the report
   * half: not deployable (it peeks), but it compares methods at equal overall FMR, so a change
   * in the ratio or TAR is not just a change in how strict the threshold turned out to be.
   */
  atMatchedFmr: { threshold: number; overall: { fmr: number; tar: number }; fmrMaxMinRatio: number | null; fnmrMaxMinRatio: number | null };
}

/** A candidate setting's figures on the inner split, at equal overall FMR. */
export interface CandidateFigures {
  /** Race FMR max/min. */
  ratio: number | null;
  /** Race FNMR max/min, smoothed. */
  fnmrRatio: number | null;
  /** The larger of the two: what the choice minimises. */
  worse: number | null;
  tar: number;
  /** The highest FNMR of any group compared. */
  highestFnmr: number;
}

export interface MitigationReport {
  split: string;
  fitIdentities: number;
  reportIdentities: number;
  targetFmr: number;
  configurations: ConfigurationReport[];
  normaliser: ScoreNormaliser;
  /** How each normalisation's settings were chosen without looking at the report half. */
  selection: {
    fmr: number;
    candidates: ({ clusters: number; clusterFmr: number } & CandidateFigures)[];
    chosen: { clusters: number; clusterFmr: number };
    cohort: {
      candidates: (CohortSettings & CandidateFigures)[];
      chosen: CohortSettings;
      /**
       * Every candidate again, fitted on the whole fit half and measured on the report half at
       * the target FMR: for reading the trade-off between the two differentials, never for choosing.
       */
      sweep: (CohortSettings & CandidateFigures)[];
    };
  };
  /** The reference cohort behind the balanced-cohort normalisation (its templates are not written out). */
  cohort: { people: number; perGroup: Record<string, number>; drawnFrom: string };
}

/** Max/min rate over the groups with enough pairs; null where fewer than two, or one is zero. */
function ratioOf(groups: { enough: boolean; rate: number }[]): number | null {
  const usable = groups.filter((g) => g.enough);
  if (usable.length < 2 || usable.some((g) => !(g.rate > 0))) return null;
  const rates = usable.map((g) => g.rate);
  return Math.max(...rates) / Math.min(...rates);
}

/**
 * A stable hash of a name (FNV-1a, then murmur3's finaliser so every output bit depends on every
 * input bit: FNV's low bit alone is only the parity of the characters). Bit 0 splits identities
 * into fit and report halves, bit 1 splits the fit half again for choosing settings.
 */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Pairs of the included images only: on a half of LFW a quarter of the full pass. */
export function pairsAmong(scores: Float32Array, n: number, owner: number[], include: boolean[], transform?: (i: number, j: number, s: number) => number): PairSource {
  const rows: number[] = [];
  include.forEach((inc, i) => { if (inc) rows.push(i); });
  return {
    n, owner, include,
    forEach: (visit) => {
      for (let a = 0; a < rows.length; a++) {
        const i = rows[a]!;
        // Row i of the upper-triangle layout starts at i*n - i(i+1)/2, and holds j from i+1.
        const base = i * n - (i * (i + 1)) / 2 - i - 1;
        for (let b = a + 1; b < rows.length; b++) {
          const j = rows[b]!;
          const s = scores[base + j]!;
          visit(i, j, transform ? transform(i, j, s) : s);
        }
      }
    },
  };
}

/**
 * Fit each mitigation on one half of the identities and report it on the other, disjoint half,
 * beside the plain global threshold fitted the same way.
 */
export async function mitigate(m: MitigationInput): Promise<MitigationReport> {
  const unknown: IdentityLabels = { sex: 'unknown', race: 'unknown', age_group: 'unknown' };
  const groupOfIdentity = m.identities.map((name) => m.groupOf(m.labels.get(name) ?? unknown));
  const labelled = (g: string) => !g.split(' ').includes('unknown');
  function groupMembersOf(include: boolean[]): Map<string, number[]> {
    const present = new Set<number>();
    m.owner.forEach((id, i) => { if (include[i]) present.add(id); });
    const groups = new Map<string, number[]>();
    for (const id of [...present].sort((a, b) => a - b)) {
      const g = groupOfIdentity[id]!;
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

  const source = (include: boolean[], transform?: (i: number, j: number, s: number) => number) => pairsAmong(m.scores, m.n, m.owner, include, transform);
  const impostorThreshold = (src: PairSource, fmr: number) => {
    const h = new ScoreHistogram(100_000, -2, 2);
    src.forEach((i, j, s) => { if (m.owner[i] !== m.owner[j]) h.add(s); });
    return h.thresholdForRate(fmr);
  };
  /**
   * Race FMR and FNMR ratios and TAR at the threshold giving `fmr` overall on `include`: how
   * candidates are compared. A mitigation can buy equal false match rates by making one group's
   * genuine pairs fail far more often, so the larger of the two ratios is what is minimised.
   * FNMR is smoothed, (misses + 1) / (pairs + 2), because a small group with no miss would
   * otherwise make every ratio infinite.
   */
  const atEqualFmr = (include: boolean[], transform: (i: number, j: number, s: number) => number, fmr: number) => {
    const src = source(include, transform);
    const o = identityOutcomes(src, m.identities.length, impostorThreshold(src, fmr));
    const everyone = [...new Set(m.owner.filter((_, i) => include[i]))];
    const rates = [...groupMembersOf(include)]
      .filter(([g]) => labelled(g))
      .map(([, members]) => groupOutcome(o, members, 0))
      .filter((r) => r.impostorPairs >= 3 / fmr);
    const fmrRatio = ratioOf(rates.map((r) => ({ rate: r.fmr, enough: true })));
    const fnmrRatio = ratioOf(rates.map((r) => ({ rate: (r.fnmr * r.genuinePairs + 1) / (r.genuinePairs + 2), enough: true })));
    const worse = fmrRatio === null || fnmrRatio === null ? null : Math.max(fmrRatio, fnmrRatio);
    const highest = rates.reduce<GroupOutcome | undefined>((h, r) => (!h || r.fnmr > h.fnmr ? r : h), undefined);
    return { ratio: fmrRatio, fnmrRatio, worse, tar: 1 - groupOutcome(o, everyone, 0).fnmr, highestFnmr: highest?.fnmr ?? NaN };
  };
  const byWorseRatioThenTar = <T extends { worse: number | null; tar: number }>(a: T, b: T) =>
    ((b.worse ?? Infinity) < (a.worse ?? Infinity) || (b.worse === a.worse && b.tar > a.tar) ? b : a);

  // Global threshold, fitted on the fit half.
  const rawFit = source(fit);
  const rawThreshold = impostorThreshold(rawFit, m.targetFmr);

  // Fair score normalisation: clusters and their offsets from the fit half only.
  const fitFsn = async (include: boolean[], clusters: number, clusterFmr: number) => {
    const rows = include.map((f, i) => (f ? i : -1)).filter((i) => i >= 0);
    const { centroids } = await sphericalKMeans(m.vectors, rows, m.dim, clusters);
    const cluster = await nearestTargets(m.vectors, m.dim, centroids, clusters);
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
  const candidates = [];
  for (const c of m.fsnGrid) candidates.push({ ...c, ...atEqualFmr(innerCheck, (await fitFsn(innerFit, c.clusters, c.clusterFmr)).transform, SELECTION_FMR) });
  const best = candidates.reduce(byWorseRatioThenTar);
  const chosen = { clusters: best.clusters, clusterFmr: best.clusterFmr };
  const { normaliser, transform: fsn } = await fitFsn(fit, chosen.clusters, chosen.clusterFmr);
  const fsnThreshold = impostorThreshold(source(fit, fsn), m.targetFmr);

  // Balanced-cohort normalisation. The cohort draws the same number of people from each group
  // the goal is about (those with enough impostor pairs in the fit half), one mean template each.
  const fitGroups = groupMembersOf(fit);
  const rawFitOutcomes = identityOutcomes(rawFit, m.identities.length, rawThreshold);
  const labelledFitGroups = [...fitGroups].filter(([g]) => labelled(g));
  const enoughGroups = labelledFitGroups.filter(([, members]) => groupOutcome(rawFitOutcomes, members, 0).impostorPairs >= m.minImpostorPairs);
  // A small data set may have fewer than two groups with enough pairs: balance over the groups
  // with at least a few people instead, since a cohort balanced over one group is not balanced.
  const balancedOverEnough = enoughGroups.length >= 2;
  const cohortGroups = (balancedOverEnough ? enoughGroups : labelledFitGroups.filter(([, members]) => members.length >= MIN_COHORT_PEOPLE_PER_GROUP))
    .map(([g]) => g).sort();
  /** Balanced: the same number of people drawn from each cohort group. Otherwise every person in `include`, as a plain cohort would be. */
  const fitCohort = async (include: boolean[], balanced: boolean) => {
    const byGroup = groupMembersOf(include);
    const people: number[] = [];
    const perGroup: Record<string, number> = {};
    if (balanced) {
      const pools = cohortGroups.map((g) => byGroup.get(g) ?? []);
      const take = Math.min(...pools.map((p) => p.length));
      const rand = seededRandom(11);
      pools.forEach((pool, k) => {
        const shuffled = [...pool];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        people.push(...shuffled.slice(0, take));
        perGroup[cohortGroups[k]!] = take;
      });
    } else {
      for (const [g, members] of [...byGroup].sort(([a], [b]) => a.localeCompare(b))) {
        people.push(...members);
        perGroup[g] = members.length;
      }
    }
    const slot = new Map(people.map((id, k) => [id, k]));
    const templates = new Float32Array(people.length * m.dim);
    for (let i = 0; i < m.n; i++) {
      const k = include[i] ? slot.get(m.owner[i]!) : undefined;
      if (k === undefined) continue;
      for (let d = 0; d < m.dim; d++) templates[k * m.dim + d]! += m.vectors[i * m.dim + d]!;
    }
    for (let k = 0; k < people.length; k++) {
      const t = templates.subarray(k * m.dim, (k + 1) * m.dim);
      const norm = Math.hypot(...t);
      if (norm > 0) for (let d = 0; d < m.dim; d++) t[d]! /= norm;
    }
    const similarities = new CohortSimilarities(people.length, m.n);
    // With no one in the cohort every statistic stays 0 and the normalisation changes nothing.
    if (people.length > 0) await forEachDotBlock(m.vectors, m.n, transpose(templates, people.length, m.dim), people.length, m.dim, (first, rows, block) => {
      for (let r = 0; r < rows; r++) {
        const row = first + r;
        similarities.setRow(row, block.subarray(r * people.length, (r + 1) * people.length), slot.get(m.owner[row]!) ?? -1);
      }
    });
    const transformFor = (c: CohortSettings) => {
      const q = Float64Array.from({ length: m.n }, (_, i) => similarities.statistic(i, c.k, c.gamma));
      return (i: number, j: number, s: number) => cohortNormalisedScore(s, q[i]!, q[j]!, c.beta);
    };
    return { transformFor, people: people.length, perGroup };
  };
  const innerCohort = await fitCohort(innerFit, true);
  const cohortCandidates = m.cohortGrid.map((c) => ({ ...c, ...atEqualFmr(innerCheck, innerCohort.transformFor(c), SELECTION_FMR) }));
  const bestCohort = cohortCandidates.reduce(byWorseRatioThenTar);
  const chosenCohort: CohortSettings = { k: bestCohort.k, gamma: bestCohort.gamma, beta: bestCohort.beta };
  const cohort = await fitCohort(fit, true);
  const cohortTransform = cohort.transformFor(chosenCohort);
  // The same settings against everyone in the fit half: shows what balancing the cohort is for.
  const plainCohort = await fitCohort(fit, false);
  const plainCohortTransform = plainCohort.transformFor(chosenCohort);
  const sweep = m.cohortGrid.map((c) => ({ ...c, ...atEqualFmr(report, cohort.transformFor(c), m.targetFmr) }));
  const cohortThreshold = impostorThreshold(source(fit, cohortTransform), m.targetFmr);

  // Worst-group threshold: the lowest threshold at which every group with enough pairs stays
  // at the target on the fit half. Labels are used to fit it, never at run time.
  const worstFmr = (t: number) => {
    const o = identityOutcomes(rawFit, m.identities.length, t);
    let worst = 0;
    for (const [g, members] of fitGroups) {
      if (!labelled(g)) continue;
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

  const reportGroups = [...groupMembersOf(report)].sort(([a], [b]) => a.localeCompare(b));
  const everyone = [...new Set(m.owner.filter((_, i) => report[i]))];
  const atThreshold = (src: PairSource, threshold: number, replicates: number) => {
    const o = identityOutcomes(src, m.identities.length, threshold);
    const all = groupOutcome(o, everyone, 0);
    const draws: number[][] = [];
    const groups = reportGroups.map(([group, members], g) => {
      // A seed per group, so that each group's people are redrawn independently.
      const { outcome: r, fmrDraws } = groupOutcomeWithDraws(o, members, replicates, 1 + g);
      const enough = r.impostorPairs >= m.minImpostorPairs && labelled(group);
      if (enough) draws.push(fmrDraws);
      return { group, ...r, enough };
    });
    const fmrMaxMinRatio = ratioOf(groups.map((g) => ({ rate: g.fmr, enough: g.enough })));
    const fnmrMaxMinRatio = ratioOf(groups.map((g) => ({ rate: g.fnmr, enough: g.enough })));
    return { overall: { fmr: all.fmr, tar: 1 - all.fnmr }, groups, fmrMaxMinRatio, fmrMaxMinRatioCi: ratioInterval(draws), fnmrMaxMinRatio };
  };
  const describe = (name: string, description: string, src: PairSource, threshold: number): ConfigurationReport => {
    const fitted = atThreshold(src, threshold, 1000);
    const matchedThreshold = impostorThreshold(src, m.targetFmr);
    const matched = atThreshold(src, matchedThreshold, 0);
    return {
      name, description, threshold, ...fitted,
      atMatchedFmr: { threshold: matchedThreshold, overall: matched.overall, fmrMaxMinRatio: matched.fmrMaxMinRatio, fnmrMaxMinRatio: matched.fnmrMaxMinRatio },
    };
  };
  const cohortSummary = Object.entries(cohort.perGroup).map(([g, k]) => `${k} ${g}`).join(', ');
  return {
    split: 'identities split in two by a hash of their name; every threshold, cluster and cohort is fitted on the first half and reported on the second',
    fitIdentities: new Set(m.owner.filter((_, i) => fit[i])).size,
    reportIdentities: new Set(m.owner.filter((_, i) => report[i])).size,
    targetFmr: m.targetFmr,
    normaliser,
    selection: { fmr: SELECTION_FMR, candidates, chosen, cohort: { candidates: cohortCandidates, chosen: chosenCohort, sweep } },
    cohort: { people: cohort.people, perGroup: cohort.perGroup, drawnFrom: balancedOverEnough
      ? 'the fit half: the same number of people drawn at random from each group with enough impostor pairs, one mean template per person'
      : `the fit half: fewer than two groups have enough impostor pairs, so the same number of people drawn at random from each group with at least ${MIN_COHORT_PEOPLE_PER_GROUP} people, one mean template per person` },
    configurations: [
      describe('global threshold', 'One threshold for everyone, set for the target FMR on the fit half (the baseline).', source(report), rawThreshold),
      describe('fair score normalisation', `Scores shifted by unsupervised cluster offsets (${chosen.clusters} clusters, offsets at FMR ${chosen.clusterFmr}, chosen on an inner split of the fit half); no demographic label is used at run time.`, source(report, fsn), fsnThreshold),
      describe('balanced-cohort normalisation', `Each score lowered by ${chosenCohort.beta} times the mean of its two faces' crowding: the mean similarity to their ${chosenCohort.k} nearest people in a reference cohort balanced by group (${cohortSummary}), less ${chosenCohort.gamma} times their mean similarity to the whole cohort. Settings chosen on an inner split of the fit half; labels only draw the cohort, nothing about a compared face is inferred.`, source(report, cohortTransform), cohortThreshold),
      describe('unbalanced-cohort normalisation', `The same normalisation and settings against a cohort of every person in the fit half (${plainCohort.people}, ${Object.entries(plainCohort.perGroup).map(([g, k]) => `${k} ${g}`).join(', ')}), as a cohort drawn without regard to groups would be: for comparison, not a mitigation.`, source(report, plainCohortTransform), impostorThreshold(source(fit, plainCohortTransform), m.targetFmr)),
      describe('worst-group threshold', 'One threshold for everyone, raised until every labelled group with enough pairs stays at the target FMR on the fit half.', source(report), worstGroupThreshold),
    ],
  };
}

/** 95% interval of the max/min ratio over bootstrap draws taken group by group, draw by draw. */
function ratioInterval(draws: number[][]): ConfigurationReport['fmrMaxMinRatioCi'] {
  if (draws.length < 2) return null;
  const count = Math.min(...draws.map((d) => d.length));
  if (count === 0) return null;
  const ratios: number[] = [];
  for (let r = 0; r < count; r++) {
    const v = draws.map((d) => d[r]!);
    if (v.some((x) => !Number.isFinite(x))) continue;
    const min = Math.min(...v);
    ratios.push(min > 0 ? Math.max(...v) / min : Infinity);
  }
  const ci: Interval = percentileInterval(ratios);
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  return { low: finite(ci.low), high: finite(ci.high) };
}
