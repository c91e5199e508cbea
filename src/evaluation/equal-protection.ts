import type { EqualProtectionCalibration, EqualProtectionGroup, EqualProtectionPoint } from '../matching/calibration.js';
import { maxEventsWithin, trialsToShow, upperBound } from '../matching/clopper-pearson.js';
import { forEachPair } from './all-pairs.js';
import { suspectedDuplicates, type SuspectedDuplicates } from './duplicates.js';
import type { IdentityLabels } from './demographics.js';
import { groupOutcome, identityOutcomes, type Interval } from './fairness.js';
import { ScoreHistogram } from './metrics.js';
import { nameHash, pairsAmong } from './mitigation.js';

export const EQUAL_PROTECTION_CONFIDENCE = 0.95;
/** The groupings the promise covers; race x sex only where a group's pairs can show the target. */
export const PROTECTED_GROUPINGS: Record<string, (l: IdentityLabels) => string> = {
  race: (l) => l.race,
  sex: (l) => l.sex,
  'race x sex': (l) => `${l.race} ${l.sex}`,
};
const ONLY_WHERE_PAIRS_SUFFICE = new Set(['race x sex']);
const ALL = 'all pairs';

export interface GroupHistogram {
  grouping: string;
  group: string;
  identities: number;
  histogram: ScoreHistogram;
}

/** Smallest bin-edge threshold with at most `k` scores at or above it. */
export function thresholdForCount(h: ScoreHistogram, k: number): number {
  let above = 0;
  for (let b = h.bins - 1; b >= 0; b--) {
    if (above + h.counts[b]! > k) return h.edge(b + 1);
    above += h.counts[b]!;
  }
  return h.lo;
}

/** Scores at or above `threshold` (rounded to a bin edge, as ScoreHistogram does). */
export function countAtOrAbove(h: ScoreHistogram, threshold: number): number {
  let s = 0;
  for (let b = h.binOf(threshold); b < h.bins; b++) s += h.counts[b]!;
  return s;
}

/**
 * The equal-protection threshold for one target FMR: the smallest at which the upper bound of
 * every group's FMR is at most the target. A group whose pairs are too few for any threshold to
 * show the target contributes the strictest threshold its data support (none of its impostor
 * pairs at or above it) and is named in `cannotShow`.
 */
export function equalProtectionPoint(groups: GroupHistogram[], target: number, confidence = EQUAL_PROTECTION_CONFIDENCE): EqualProtectionPoint {
  const needs = groups.filter((g) => g.histogram.total > 0).map((g) => {
    const n = g.histogram.total;
    const k = maxEventsWithin(n, target, confidence);
    const reachesTarget = k >= 0;
    const threshold = thresholdForCount(g.histogram, Math.max(0, k));
    const used = reachesTarget || !ONLY_WHERE_PAIRS_SUFFICE.has(g.grouping);
    return { g, reachesTarget, threshold, used };
  });
  const binding = needs.filter((x) => x.used).reduce<(typeof needs)[number] | undefined>((a, b) => (!a || b.threshold > a.threshold ? b : a), undefined);
  const threshold = binding?.threshold ?? 1;
  const out: EqualProtectionGroup[] = needs.map(({ g, reachesTarget, threshold: own, used }) => {
    const falseMatches = countAtOrAbove(g.histogram, threshold);
    return {
      grouping: g.grouping, group: g.group, identities: g.identities, impostorPairs: g.histogram.total,
      falseMatches, fmrUpperBound: round3(upperBound(falseMatches, g.histogram.total, confidence)), threshold: round6(own), reachesTarget, used,
    };
  });
  const cannotShow = out.filter((g) => g.used && !g.reachesTarget).map((g) => `${g.group} (${g.impostorPairs} impostor pairs; at best at most ${g.fmrUpperBound.toExponential(2)}; ${trialsToShow(target, confidence)} needed)`);
  return {
    fmr: target, threshold: round6(threshold), bindingGroup: binding ? binding.g.group : 'none', everyGroupReaches: cannotShow.length === 0, cannotShow, groups: out,
  };
}

export interface HeldOutGroup {
  grouping: string;
  group: string;
  identities: number;
  impostorPairs: number;
  genuinePairs: number;
  fmr: number;
  /** Upper 95% Clopper-Pearson bound (pairs taken as independent) and the bootstrap interval over identities. */
  fmrUpperBound: number;
  fmrCi: Interval;
  fnmr: number;
  fnmrCi: Interval;
  tar: number;
  tarCi: Interval;
  /** Enough pairs for its rate at this target to mean something: 3 / target impostor pairs and 100 genuine. */
  enough: boolean;
  withinTwiceTarget: boolean;
}

export interface HeldOutPoint {
  operatingPoint: 'equal_protection' | 'average';
  fmr: number;
  threshold: number;
  overall: { fmr: number; fmrUpperBound: number; tar: number; tarCi: Interval; impostorPairs: number; genuinePairs: number };
  groups: HeldOutGroup[];
  /** The highest FMR of any group with enough pairs, and its ratio to the target. */
  worstGroup: { group: string; fmr: number; ratioToTarget: number } | null;
  /** True when every group with enough pairs stays within twice the target (point estimate). */
  everyEnoughGroupWithinTwice: boolean;
}

export interface EqualProtectionReport {
  split: string;
  /**
   * Identity pairs set aside as suspected duplicate labels (one person under two names, or a
   * mislabelled photograph): two different names whose best cross pair scores at or above the
   * median genuine pair. Listed so a reader can check each; a real look-alike would be hidden.
   */
  suspectedDuplicates: { threshold: number; pairs: { a: string; b: string; half: 'fit' | 'report'; bestScore: number }[] };
  fitIdentities: number;
  reportIdentities: number;
  calibration: EqualProtectionCalibration;
  /** The fit half's point-estimate threshold for each target: the `average` operating point fitted the same way. */
  averageThresholds: { fmr: number; threshold: number }[];
  heldOut: HeldOutPoint[];
  /** What equal protection costs, on the held-out half: overall TAR at each operating point. */
  cost: { fmr: number; averageTar: number; equalProtectionTar: number; tarLost: number }[];
}

export interface EqualProtectionInput {
  scores: Float32Array;
  n: number;
  owner: number[];
  identities: string[];
  ok: boolean[];
  labels: Map<string, IdentityLabels>;
  targets: number[];
  replicates?: number;
  /** Computed once by the caller when it needs them too. */
  duplicates?: SuspectedDuplicates;
}

const labelled = (g: string) => !g.split(' ').includes('unknown');
const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
const round3 = (v: number) => Number(v.toPrecision(3));
const sci = (v: number) => v.toExponential(1);
const MIN_GENUINE_PAIRS = 100;

/**
 * Fit the equal-protection thresholds on one half of the identities (the mitigation halves) and
 * measure both operating points on the other, held-out half: each group's FMR with its bound
 * and interval, FNMR and TAR with intervals.
 */
export function equalProtection(e: EqualProtectionInput): EqualProtectionReport {
  const unknown: IdentityLabels = { sex: 'unknown', race: 'unknown', age_group: 'unknown' };
  const side = e.identities.map((name) => nameHash(name) & 1);
  const fitOk = e.owner.map((id, i) => e.ok[i]! && side[id] === 0);
  const reportOk = e.owner.map((id, i) => e.ok[i]! && side[id] === 1);
  const groupings = Object.entries(PROTECTED_GROUPINGS).map(([grouping, groupOf]) => {
    const groupOfIdentity = e.identities.map((name) => groupOf(e.labels.get(name) ?? unknown));
    const names = [...new Set(groupOfIdentity)].filter(labelled).sort();
    return { grouping, names, code: groupOfIdentity.map((g) => names.indexOf(g)) };
  });

  // Suspected duplicate labels: identity pairs whose best cross pair scores like a typical
  // genuine pair (at or above the fit half's median genuine score), in either half.
  const dup = e.duplicates ?? suspectedDuplicates(e.scores, e.n, e.owner, e.ok, side, e.identities.length);
  const duplicateThreshold = dup.threshold;
  const isDuplicate = dup.isDuplicate;
  const suspectedDuplicates_ = {
    threshold: round6(duplicateThreshold),
    pairs: dup.pairs.map(({ a, b, bestScore }) => ({ a: e.identities[a]!, b: e.identities[b]!, half: side[a] === 0 ? 'fit' as const : 'report' as const, bestScore: round6(bestScore) }))
      .sort((x, y) => y.bestScore - x.bestScore),
  };

  // The fit half: impostor scores of everyone, and of each group (both people in it).
  const all = new ScoreHistogram();
  const hist = groupings.map((g) => g.names.map(() => new ScoreHistogram()));
  forEachPair(e.scores, e.n, (i, j, s) => {
    if (!fitOk[i] || !fitOk[j]) return;
    const a = e.owner[i]!, b = e.owner[j]!;
    if (a === b || isDuplicate(a, b)) return;
    all.add(s);
    groupings.forEach((g, k) => {
      const c = g.code[a]!;
      if (c >= 0 && c === g.code[b]) hist[k]![c]!.add(s);
    });
  });
  const fitPeople = new Set(e.owner.filter((_, i) => fitOk[i]));
  const reportPeople = [...new Set(e.owner.filter((_, i) => reportOk[i]))].sort((x, y) => x - y);
  const groupHistograms: GroupHistogram[] = [
    { grouping: 'all', group: ALL, identities: fitPeople.size, histogram: all },
    ...groupings.flatMap((g, k) => g.names.map((name, c) => ({
      grouping: g.grouping, group: name, identities: [...fitPeople].filter((id) => g.code[id] === c).length, histogram: hist[k]![c]!,
    }))),
  ];
  const targets = e.targets.filter((t) => all.total >= trialsToShow(t));
  const points = targets.map((t) => equalProtectionPoint(groupHistograms, t));
  const averageThresholds = targets.map((t) => ({ fmr: t, threshold: round6(all.thresholdForRate(t)) }));

  const allReport = pairsAmong(e.scores, e.n, e.owner, reportOk);
  // A suspected duplicate's pairs count neither as false matches nor as impostor pairs' hits.
  const source = { ...allReport, forEach: (visit: (i: number, j: number, s: number) => void) => allReport.forEach((i, j, s) => { if (!isDuplicate(e.owner[i]!, e.owner[j]!)) visit(i, j, s); }) };
  const membersOf = (code: number[], c: number) => reportPeople.filter((id) => code[id] === c);
  const measure = (operatingPoint: HeldOutPoint['operatingPoint'], fmr: number, threshold: number): HeldOutPoint => {
    const o = identityOutcomes(source, e.identities.length, threshold);
    const describe = (members: number[]) => {
      const r = groupOutcome(o, members, e.replicates ?? 300);
      const falseMatches = Math.round(r.fmr * r.impostorPairs);
      return {
        identities: r.identities, impostorPairs: r.impostorPairs, genuinePairs: r.genuinePairs,
        fmr: r.fmr, fmrUpperBound: r.impostorPairs ? upperBound(falseMatches, r.impostorPairs) : NaN, fmrCi: r.fmrCi,
        fnmr: r.fnmr, fnmrCi: r.fnmrCi, tar: 1 - r.fnmr, tarCi: { low: 1 - r.fnmrCi.high, high: 1 - r.fnmrCi.low },
      };
    };
    const overall = describe(reportPeople);
    const groups: HeldOutGroup[] = groupings.flatMap((g) => g.names.map((name, c) => {
      const d = describe(membersOf(g.code, c));
      const enough = d.impostorPairs >= Math.ceil(3 / fmr) && d.genuinePairs >= MIN_GENUINE_PAIRS;
      return { grouping: g.grouping, group: name, ...d, enough, withinTwiceTarget: d.fmr <= 2 * fmr };
    }));
    const worst = groups.filter((g) => g.enough).reduce<HeldOutGroup | undefined>((a, b) => (!a || b.fmr > a.fmr ? b : a), undefined);
    return {
      operatingPoint, fmr, threshold,
      overall: { fmr: overall.fmr, fmrUpperBound: overall.fmrUpperBound, tar: overall.tar, tarCi: overall.tarCi, impostorPairs: overall.impostorPairs, genuinePairs: overall.genuinePairs },
      groups,
      worstGroup: worst ? { group: `${worst.grouping}: ${worst.group}`, fmr: worst.fmr, ratioToTarget: worst.fmr / fmr } : null,
      everyEnoughGroupWithinTwice: groups.every((g) => !g.enough || g.withinTwiceTarget),
    };
  };
  const heldOut: HeldOutPoint[] = [];
  const cost: EqualProtectionReport['cost'] = [];
  points.forEach((p, k) => {
    const avg = measure('average', p.fmr, averageThresholds[k]!.threshold);
    const eq = measure('equal_protection', p.fmr, p.threshold);
    p.tar = round6(eq.overall.tar);
    heldOut.push(avg, eq);
    cost.push({ fmr: p.fmr, averageTar: avg.overall.tar, equalProtectionTar: eq.overall.tar, tarLost: avg.overall.tar - eq.overall.tar });
  });
  return {
    split: 'identities split in two by a hash of their name (the mitigation halves); thresholds fitted on the first half, every rate measured on the second',
    fitIdentities: fitPeople.size,
    reportIdentities: reportPeople.length,
    suspectedDuplicates: suspectedDuplicates_,
    calibration: {
      method: 'For each target FMR, the smallest threshold at which the upper 95% Clopper-Pearson bound (one-sided, impostor pairs taken as independent) on the FMR of every group is at most the target: all pairs, each race, each sex, and each race x sex group whose pairs can show the target. A group too small to show it contributes the strictest threshold its data support (none of its impostor pairs at or above it) and is named.',
      confidence: EQUAL_PROTECTION_CONFIDENCE,
      bound: 'clopper-pearson',
      fittedOn: `the fit half: ${fitPeople.size} identities, ${all.total} impostor pairs; ${suspectedDuplicates_.pairs.filter((p) => p.half === 'fit').length} identity pairs set aside as suspected duplicate labels (best cross pair at or above the median genuine score, ${round6(duplicateThreshold)})`,
      groupings: ['all', ...Object.keys(PROTECTED_GROUPINGS)],
      points,
    },
    averageThresholds,
    heldOut,
    cost,
  };
}
