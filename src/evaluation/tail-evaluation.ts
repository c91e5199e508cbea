import type { ImpostorTail } from '../matching/impostor-tail.js';
import type { SuspectedDuplicates } from './duplicates.js';
import { exceedancesFor, fitImpostorTail, STABILITY_FRACTIONS, type TailFitResult } from './impostor-tail-fit.js';
import { ScoreHistogram } from './metrics.js';
import { nameHash, pairsAmong } from './mitigation.js';

export interface TailReport {
  tail: ImpostorTail;
  /** The same fit at other top fractions: how much the extrapolation depends on the choice of u. */
  stability: TailFitResult['stability'];
}

/** The evaluation's halves: identity k is on side 0 (fit) or 1 (held out) by a hash of its name. */
export function identitySides(identities: string[]): number[] {
  return identities.map((name) => nameHash(name) & 1);
}

/**
 * The impostor tail fitted on the fit half's impostor pairs (suspected duplicate labels set aside,
 * as the equal-protection fit does): the largest scores kept exactly (a histogram finds where to
 * cut, a second pass keeps them), then peaks over threshold. Undefined where the half is too small.
 */
export function fitTailOnFitHalf(o: {
  scores: Float32Array; n: number; owner: number[]; ok: boolean[]; side: number[]; identities: string[];
  duplicates: SuspectedDuplicates & { reasons?: Map<string, string> }; strictestMeasuredFmr: number; replicates?: number;
  /**
   * `whole-tail` (the default): identity bootstrap, the fitted pairs' own bound folded in, the pairs
   * set aside named in the table. `previous`: the rule before it (pair bootstrap, held at the table's
   * strictest point), fitted only to compare the two on held-out identities.
   */
  rule?: 'whole-tail' | 'previous';
}): { fit: TailFitResult; report: TailReport } | undefined {
  const whole = (o.rule ?? 'whole-tail') === 'whole-tail';
  const fitOk = o.owner.map((id, i) => o.ok[i]! && o.side[id] === 0);
  const pairs = pairsAmong(o.scores, o.n, o.owner, fitOk);
  const impostor = (i: number, j: number) => {
    const a = o.owner[i]!, b = o.owner[j]!;
    return a !== b && !o.duplicates.isDuplicate(a, b);
  };
  const hist = new ScoreHistogram();
  // The best cross score of each pair set aside, for the table's list.
  const bestSetAside = new Map<string, number>();
  pairs.forEach((i, j, s) => {
    if (impostor(i, j)) { hist.add(s); return; }
    const a = o.owner[i]!, b = o.owner[j]!;
    if (a === b) return;
    const k = a < b ? `${a}:${b}` : `${b}:${a}`;
    bestSetAside.set(k, Math.max(bestSetAside.get(k) ?? -Infinity, s));
  });
  if (hist.total === 0) return undefined;
  const keep = Math.max(2 * exceedancesFor(hist.total), Math.ceil(Math.max(...STABILITY_FRACTIONS) * hist.total) + 2);
  if (keep >= hist.total) return undefined;
  // One bin below the cut, so that every score of the top `keep` is kept.
  const cut = hist.thresholdForRate(keep / hist.total) - (hist.hi - hist.lo) / hist.bins;
  const kept: { s: number; a: number; b: number }[] = [];
  pairs.forEach((i, j, s) => { if (s >= cut && impostor(i, j)) kept.push({ s, a: o.owner[i]!, b: o.owner[j]! }); });
  kept.sort((x, y) => y.s - x.s);
  const top = Float64Array.from(kept, (p) => p.s);
  const images = new Float64Array(o.identities.length);
  o.owner.forEach((id, i) => { if (fitOk[i]) images[id]!++; });
  const fitPeople = images.filter((c) => c > 0).length;
  const setAsidePairs = o.duplicates.pairs.filter((p) => o.side[p.a] === 0);
  const setAside = setAsidePairs.map((p) => {
    const k = p.a < p.b ? `${p.a}:${p.b}` : `${p.b}:${p.a}`;
    const best = bestSetAside.get(k) ?? p.bestScore;
    return {
      names: [o.identities[p.a]!, o.identities[p.b]!] as [string, string],
      bestScore: round6(best),
      reason: o.duplicates.reasons?.get(k) ?? `best cross pair ${best.toFixed(4)}, at or above the median genuine score (${o.duplicates.threshold.toFixed(4)}): one person under two names, or a mislabelled photograph`,
    };
  }).sort((x, y) => y.bestScore - x.bestScore);
  const sample = {
    top, total: hist.total,
    ...(whole ? { people: { a: Int32Array.from(kept, (p) => p.a), b: Int32Array.from(kept, (p) => p.b), images, setAside: setAsidePairs } } : {}),
  };
  const fit = fitImpostorTail(sample, {
    strictestMeasuredFmr: o.strictestMeasuredFmr,
    fittedOn: `the fit half of the identities (a hash of each name): ${fitPeople} identities, ${hist.total} impostor pairs; ${setAside.length} identity pairs set aside as suspected duplicate labels (best cross pair at or above the median genuine score, ${o.duplicates.threshold.toFixed(6)}${o.duplicates.reasons ? ', or listed in src/evaluation/same-person.ts as one person under two names' : ''})${whole ? ', named in setAside; relatives and every other impostor pair kept' : ''}`,
    ...(o.replicates ? { replicates: o.replicates } : {}),
    ...(whole ? { wholeTail: { setAside } } : {}),
  });
  if (!fit) return undefined;
  return { fit, report: { tail: fit.tail, stability: fit.stability } };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
