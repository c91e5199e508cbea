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
  duplicates: SuspectedDuplicates; strictestMeasuredFmr: number; replicates?: number;
}): { fit: TailFitResult; report: TailReport } | undefined {
  const fitOk = o.owner.map((id, i) => o.ok[i]! && o.side[id] === 0);
  const pairs = pairsAmong(o.scores, o.n, o.owner, fitOk);
  const impostor = (i: number, j: number) => {
    const a = o.owner[i]!, b = o.owner[j]!;
    return a !== b && !o.duplicates.isDuplicate(a, b);
  };
  const hist = new ScoreHistogram();
  pairs.forEach((i, j, s) => { if (impostor(i, j)) hist.add(s); });
  if (hist.total === 0) return undefined;
  const keep = Math.max(2 * exceedancesFor(hist.total), Math.ceil(Math.max(...STABILITY_FRACTIONS) * hist.total) + 2);
  if (keep >= hist.total) return undefined;
  // One bin below the cut, so that every score of the top `keep` is kept.
  const cut = hist.thresholdForRate(keep / hist.total) - (hist.hi - hist.lo) / hist.bins;
  const kept: number[] = [];
  pairs.forEach((i, j, s) => { if (s >= cut && impostor(i, j)) kept.push(s); });
  const top = Float64Array.from(kept).sort().reverse();
  const fitPeople = new Set(o.owner.filter((_, i) => fitOk[i])).size;
  const setAside = o.duplicates.pairs.filter((p) => o.side[p.a] === 0).length;
  const fit = fitImpostorTail({ top, total: hist.total }, {
    strictestMeasuredFmr: o.strictestMeasuredFmr,
    fittedOn: `the fit half of the identities (a hash of each name): ${fitPeople} identities, ${hist.total} impostor pairs; ${setAside} identity pairs set aside as suspected duplicate labels (best cross pair at or above the median genuine score, ${o.duplicates.threshold.toFixed(6)})`,
    ...(o.replicates ? { replicates: o.replicates } : {}),
  });
  if (!fit) return undefined;
  return { fit, report: { tail: fit.tail, stability: fit.stability } };
}
