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
export function openSetCheck(o: {
  scores: Float32Array; n: number; owner: number[]; heldOut: boolean[]; isDuplicate: (a: number, b: number) => boolean;
  table: CalibrationTable; fit: TailFitResult; sizes?: number[]; seed?: number;
}): OpenSetCheck {
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
