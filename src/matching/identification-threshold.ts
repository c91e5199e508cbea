import { thresholdFor, type CalibrationTable } from './calibration.js';
import { tailThreshold } from './impostor-tail.js';

/**
 * Where a 1:N threshold came from: `measured` (the table's points), `tail-model` (extrapolated
 * below the measured range by the table's fitted impostor tail, its conservative bound), or
 * `beyond-limit` (below what even the tail may speak for: the strictest threshold it, or the
 * table, gives is used and nothing is promised).
 */
export type IdentificationBasis = 'measured' | 'tail-model' | 'beyond-limit';

export interface IdentificationThreshold {
  threshold: number;
  /** The per-comparison false match rate that keeps the whole search at the target FPIR. */
  comparisonFmr: number;
  /** True when the needed FMR lies beyond what can be promised: the target FPIR is not kept. */
  beyondCalibration: boolean;
  basis: IdentificationBasis;
  /** The tail model's extrapolation limit, when the table has one. */
  extrapolationLimit?: number;
  /** The tail model's own conservative bound, where it was consulted (the threshold is never below the strictest measured one). */
  tailBound?: number;
}

/**
 * A search compares the probe with every template in the gallery, and a false positive needs
 * only one of them to match: FPIR = 1 - (1 - FMR)^N. So the per-comparison FMR is
 * 1 - (1 - FPIR)^(1/N) (about FPIR / N), and the threshold rises as the gallery grows. Below the
 * calibration's smallest measured point the table's impostor tail model (if it has one) gives the
 * threshold, its conservative bound, never below the strictest measured threshold, so that a larger
 * gallery never gets a looser one; below the tail's extrapolation limit, or with no tail, the
 * strictest threshold available is used and the answer says the target cannot be promised.
 */
export function identificationThreshold(table: CalibrationTable, fpir: number, gallerySize: number): IdentificationThreshold {
  const n = Math.max(1, gallerySize);
  const comparisonFmr = -Math.expm1(Math.log1p(-fpir) / n);
  const fmrs = table.points.map((p) => p.fmr);
  const lowest = Math.min(...fmrs), highest = Math.max(...fmrs);
  const limit = table.tail ? { extrapolationLimit: table.tail.extrapolationLimit } : {};
  if (comparisonFmr >= lowest * (1 - 1e-9)) {
    return { threshold: thresholdFor(table, Math.min(highest, comparisonFmr)), comparisonFmr, beyondCalibration: false, basis: 'measured', ...limit };
  }
  const strictest = thresholdFor(table, lowest);
  const tail = table.tail;
  if (!tail) return { threshold: strictest, comparisonFmr, beyondCalibration: true, basis: 'beyond-limit' };
  const extrapolated = tailThreshold(tail, comparisonFmr);
  if (extrapolated !== undefined) return { threshold: Math.max(strictest, extrapolated), comparisonFmr, beyondCalibration: false, basis: 'tail-model', tailBound: extrapolated, ...limit };
  const atLimit = tailThreshold(tail, tail.extrapolationLimit) ?? strictest;
  return { threshold: Math.max(strictest, atLimit), comparisonFmr, beyondCalibration: true, basis: 'beyond-limit', ...limit };
}

/** What an answer says about a threshold the table did not measure directly; undefined when it did. */
export function identificationNote(r: IdentificationThreshold, gallerySize: number): string | undefined {
  const fmr = r.comparisonFmr.toExponential(1);
  if (r.basis === 'tail-model') {
    const held = r.tailBound !== undefined && r.tailBound < r.threshold
      ? `; its bound (${r.tailBound.toFixed(4)}) is below the strictest measured threshold, which was used so that a larger gallery never gets a looser one`
      : '';
    return `the gallery (${gallerySize} templates) needs a per-comparison false match rate of ${fmr}, below what was measured; the threshold is extrapolated by the calibration's fitted impostor tail model (its upper 95% bound), not measured${held}`;
  }
  if (r.basis === 'beyond-limit') {
    return r.extrapolationLimit !== undefined
      ? `the gallery (${gallerySize} templates) needs a per-comparison false match rate of ${fmr}, beyond the tail model's extrapolation limit (${r.extrapolationLimit.toExponential(1)}); the strictest threshold available was used and the FPIR target cannot be promised`
      : `the gallery (${gallerySize} templates) needs a per-comparison false match rate of ${fmr}, below what was measured; the strictest measured threshold was used and the FPIR target cannot be promised`;
  }
  return undefined;
}
