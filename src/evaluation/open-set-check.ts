import type { CalibrationTable } from '../matching/calibration.js';
import { lowerBound, upperBound } from '../matching/clopper-pearson.js';
import { identificationThreshold, type IdentificationBasis } from '../matching/identification-threshold.js';
import { pairIndex } from './all-pairs.js';
import { tailFmrAt, tailPointThreshold, type TailFitResult } from './impostor-tail-fit.js';
import { seededRandom } from './random.js';

export interface OpenSetCheckPoint {
  gallerySize: number;
  /** The FPIR asked for (targets) or predicted by the fitted tail (sweep). */
  fpir: number;
  threshold: number;
  /** Where the threshold came from: the table's measured points, the tail model, or beyond its limit. */
  basis: IdentificationBasis | 'tail-point-estimate';
  comparisonFmr: number;
  searches: number;
  falsePositives: number;
  measuredFpir: number;
  /** Central 95% Clopper-Pearson interval on the measured FPIR. */
  measuredCi: { low: number; high: number };
  /** 1 - (1 - FMR)^N with the fitted tail's FMR at the threshold, and the bootstrap interval (below u, the fit half's own fraction). */
  predictedFpir: number;
  predictedCi: { low: number; high: number };
  /** measured / predicted. */
  ratio: number;
  /** At least 10 false positives expected: only then does a factor-of-2 comparison mean something. */
  enoughData: boolean;
  withinTwice: boolean;
  /** Mated searches at the same threshold: the enrolled person not found at rank 1 above it. */
  fnir: number;
}

export interface OpenSetCheck {
  split: string;
  searches: number;
  matedSearches: number;
  gallerySizes: number[];
  /** At the identification thresholds Probity would use (the table with its tail), for target FPIRs. */
  targets: OpenSetCheckPoint[];
  /** At the tail's point-estimate thresholds for a range of FPIRs: the model itself, checked. */
  sweep: OpenSetCheckPoint[];
  summary: { compared: number; withinTwice: number; thin: number };
}

/** Two rules' thresholds on the same held-out searches: what the whole-tail rule gains over the previous one. */
export interface RuleComparisonPoint {
  gallerySize: number;
  fpir: number;
  comparisonFmr: number;
  previous: RuleOutcome;
  wholeTail: RuleOutcome;
  /** wholeTail.tpir - previous.tpir. */
  tpirGained: number;
}

export interface RuleOutcome {
  threshold: number;
  basis: IdentificationBasis;
  falsePositives: number;
  measuredFpir: number;
  measuredCi: { low: number; high: number };
  /** Mated searches whose enrolled person is found at rank 1 at or above the threshold. */
  found: number;
  tpir: number;
}

export interface RuleComparison {
  split: string;
  searches: number;
  matedSearches: number;
  points: RuleComparisonPoint[];
  /**
   * Like for like: at each gallery size, the previous rule's threshold (the same for every target
   * there) against the whole-tail rule's loosest target whose measured FPIR on these searches is
   * no higher than the previous rule's.
   */
  atUnchangedFpir: { gallerySize: number; previous: RuleOutcome; wholeTail: RuleOutcome & { fpir: number }; tpirGained: number }[];
}

export const COMPARE_FPIRS = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4];

export const CHECK_TARGET_FPIRS = [1e-1, 1e-2, 1e-3];
const SWEEP_FPIRS = [3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3];
const ENOUGH_EVENTS = 10;

/**
 * Open-set searches of the held-out identities against galleries of held-out templates, to check
 * the tail's predictions where it was not fitted. Every held-out image is a non-mated search once
 * per gallery size: its gallery is the first N templates of one fixed random order of the held-out
 * templates that are not of its own identity (nor of a name suspected to be the same person); the
 * largest size is all of them. Where the probe's identity has other held-out images, the first of
 * them in that order is enrolled too, for the mated search (FNIR).
 */
interface HeldOutSearches { gallerySizes: number[]; best: Float64Array[]; mate: Float64Array; mated: number; searches: number }

/** Each held-out image's best non-mated score at each gallery size, and its mate's score (NaN where none). */
function heldOutSearches(o: { scores: Float32Array; n: number; owner: number[]; heldOut: boolean[]; isDuplicate: (a: number, b: number) => boolean; sizes?: number[]; seed?: number }): HeldOutSearches {
  const { scores, n, owner } = o;
  const held: number[] = [];
  for (let i = 0; i < n; i++) if (o.heldOut[i]) held.push(i);
  const rand = seededRandom(o.seed ?? 31);
  const order = [...held];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const whole = held.length;
  const sizes = [...new Set([...(o.sizes ?? [1000, 2000, 4000]).filter((s) => s < whole * 0.9), Infinity])];
  // best[s][k]: the k-th probe's best non-mated score at gallery size s; mate[k]: its own enrolled template's score.
  const best = sizes.map(() => new Float64Array(held.length).fill(-Infinity));
  const mate = new Float64Array(held.length).fill(NaN);
  const sizeUsed = sizes.map(() => 0);
  held.forEach((p, k) => {
    let taken = 0, max = -Infinity, s = 0;
    for (const e of order) {
      if (e === p) continue;
      const a = owner[p]!, b = owner[e]!;
      const sc = scores[pairIndex(p, e, n)]!;
      if (a === b) {
        if (Number.isNaN(mate[k]!)) mate[k] = sc;
        continue;
      }
      if (o.isDuplicate(a, b)) continue;
      if (sc > max) max = sc;
      taken++;
      while (s < sizes.length && taken === sizes[s]) { best[s]![k] = max; sizeUsed[s] = Math.max(sizeUsed[s]!, taken); s++; }
    }
    for (; s < sizes.length; s++) { best[s]![k] = max; sizeUsed[s] = Math.max(sizeUsed[s]!, taken); }
  });
  const gallerySizes = sizes.map((s, i) => (Number.isFinite(s) ? s : sizeUsed[i]!));
  const mated = [...mate].filter((m) => !Number.isNaN(m)).length;
  return { gallerySizes, best, mate, mated, searches: held.length };
}

/** False positives among the non-mated searches, and mated searches found at rank 1, at one threshold. */
function outcomeAt(h: HeldOutSearches, si: number, threshold: number): { falsePositives: number; found: number } {
  const b = h.best[si]!;
  let falsePositives = 0, found = 0;
  for (let k = 0; k < b.length; k++) {
    if (b[k]! >= threshold) falsePositives++;
    const m = h.mate[k]!;
    if (!Number.isNaN(m) && m >= threshold && m > b[k]!) found++;
  }
  return { falsePositives, found };
}

/**
 * The whole-tail rule against the previous one (the tail held at the table's strictest point) on
 * the same held-out searches: for each gallery size and target FPIR, each rule's threshold, the
 * measured FPIR and the TPIR (the enrolled person found at rank 1 at or above the threshold).
 * Both tails are fitted on the other half of the identities; nothing reported here was fitted on.
 */
export function compareRules(o: {
  scores: Float32Array; n: number; owner: number[]; heldOut: boolean[]; isDuplicate: (a: number, b: number) => boolean;
  previous: CalibrationTable; wholeTail: CalibrationTable; sizes?: number[]; seed?: number; fpirs?: number[];
}): RuleComparison {
  const h = heldOutSearches(o);
  const outcome = (si: number, table: CalibrationTable, fpir: number): RuleOutcome => {
    const id = identificationThreshold(table, fpir, h.gallerySizes[si]!);
    const { falsePositives, found } = outcomeAt(h, si, id.threshold);
    return {
      threshold: round6(id.threshold), basis: id.basis, falsePositives, measuredFpir: falsePositives / h.searches,
      measuredCi: { low: lowerBound(falsePositives, h.searches, 0.975), high: upperBound(falsePositives, h.searches, 0.975) },
      found, tpir: h.mated ? found / h.mated : NaN,
    };
  };
  const fpirs = o.fpirs ?? COMPARE_FPIRS;
  const points: RuleComparisonPoint[] = [];
  const atUnchangedFpir: RuleComparison['atUnchangedFpir'] = [];
  h.gallerySizes.forEach((N, si) => {
    const here: RuleComparisonPoint[] = fpirs.map((fpir) => {
      const previous = outcome(si, o.previous, fpir), wholeTail = outcome(si, o.wholeTail, fpir);
      return { gallerySize: N, fpir, comparisonFmr: -Math.expm1(Math.log1p(-fpir) / N), previous, wholeTail, tpirGained: wholeTail.tpir - previous.tpir };
    });
    points.push(...here);
    // The previous rule's strictest target here: its threshold is the highest it gives at this size.
    const prev = here[here.length - 1]!.previous;
    const same = here.filter((p) => p.wholeTail.falsePositives <= prev.falsePositives).sort((a, b) => a.wholeTail.threshold - b.wholeTail.threshold)[0];
    if (same) atUnchangedFpir.push({ gallerySize: N, previous: prev, wholeTail: { ...same.wholeTail, fpir: same.fpir }, tpirGained: same.wholeTail.tpir - prev.tpir });
  });
  return {
    split: 'the held-out half of the identities (neither tail fitted on it); each held-out image searched once per gallery size, non-mated against the first N held-out templates of other people in a fixed random order, mated with its own first other image added',
    searches: h.searches, matedSearches: h.mated, points, atUnchangedFpir,
  };
}

/**
 * Open-set searches of the held-out identities against galleries of held-out templates, to check
 * the tail's predictions where it was not fitted. Every held-out image is a non-mated search once
 * per gallery size: its gallery is the first N templates of one fixed random order of the held-out
 * templates that are not of its own identity (nor of a name suspected to be the same person); the
 * largest size is all of them. Where the probe's identity has other held-out images, the first of
 * them in that order is enrolled too, for the mated search (FNIR).
 */
export function openSetCheck(o: {
  scores: Float32Array; n: number; owner: number[]; heldOut: boolean[]; isDuplicate: (a: number, b: number) => boolean;
  table: CalibrationTable; fit: TailFitResult; sizes?: number[]; seed?: number;
}): OpenSetCheck {
  const h = heldOutSearches(o);
  const { gallerySizes, best, mate, mated } = h;
  const held = { length: h.searches };
  const measure = (si: number, fpir: number, threshold: number, basis: OpenSetCheckPoint['basis'], comparisonFmr: number): OpenSetCheckPoint => {
    const N = gallerySizes[si]!;
    const b = best[si]!;
    let fp = 0, missed = 0;
    for (let k = 0; k < b.length; k++) {
      if (b[k]! >= threshold) fp++;
      const m = mate[k]!;
      if (!Number.isNaN(m) && !(m >= threshold && m > b[k]!)) missed++;
    }
    const t = tailFmrAt(o.fit, threshold);
    const fpirOf = (fmr: number) => -Math.expm1(N * Math.log1p(-Math.min(fmr, 1 - 1e-12)));
    const predictedFpir = fpirOf(t.fmr);
    const enoughData = Number.isFinite(predictedFpir) && predictedFpir * b.length >= ENOUGH_EVENTS;
    const measuredFpir = fp / b.length;
    const ratio = measuredFpir / predictedFpir;
    return {
      gallerySize: N, fpir, threshold: round6(threshold), basis, comparisonFmr, searches: b.length, falsePositives: fp, measuredFpir,
      measuredCi: { low: lowerBound(fp, b.length, 0.975), high: upperBound(fp, b.length, 0.975) },
      predictedFpir, predictedCi: { low: fpirOf(t.low), high: fpirOf(t.high) },
      ratio, enoughData, withinTwice: ratio >= 0.5 && ratio <= 2,
      fnir: mated ? missed / mated : NaN,
    };
  };
  const targets: OpenSetCheckPoint[] = [];
  const sweep: OpenSetCheckPoint[] = [];
  gallerySizes.forEach((N, si) => {
    for (const fpir of CHECK_TARGET_FPIRS) {
      const id = identificationThreshold(o.table, fpir, N);
      targets.push(measure(si, fpir, id.threshold, id.basis, id.comparisonFmr));
    }
    for (const fpir of SWEEP_FPIRS) {
      const fmr = -Math.expm1(Math.log1p(-fpir) / N);
      if (fmr >= o.fit.tail.zeta) continue;
      sweep.push(measure(si, fpir, tailPointThreshold(o.fit, fmr), 'tail-point-estimate', fmr));
    }
  });
  const compared = [...targets, ...sweep].filter((p) => p.enoughData);
  return {
    split: 'the held-out half of the identities (not used to fit the tail); each held-out image searched once per gallery size',
    searches: held.length, matedSearches: mated, gallerySizes, targets, sweep,
    summary: { compared: compared.length, withinTwice: compared.filter((p) => p.withinTwice).length, thin: targets.length + sweep.length - compared.length },
  };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
