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
  /** The tail model's own conservative bound, where it was consulted (the threshold is never below the floor). */
  tailBound?: number;
  /**
   * Where the tail was consulted, the floor it is held at and which rule set it: `whole-tail`, the
   * strictest point the table measures on at least 100 false matches; `strictest-measured`
   * (older tables), the table's strictest point whatever its basis.
   */
  floor?: { rule: 'whole-tail' | 'strictest-measured'; fmr: number; threshold: number };
  /** Under the whole-tail rule, how many identity pairs the tail fit set aside as one person under two names. */
  setAside?: number;
}

/** Below this many false matches a table's point is an upper bound on thin data, not a point estimate. */
function wellMeasured(p: CalibrationTable['points'][number]): boolean {
  return p.basis !== 'upper-bound';
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
  const tail = table.tail;
  const limit = tail ? { extrapolationLimit: tail.extrapolationLimit } : {};
  // The whole-tail rule: the tail takes over below the strictest well-measured point, so that a
  // few dozen extreme pairs (which decide a thin point) do not set every large gallery's threshold.
  const whole = tail?.rule === 'whole-tail';
  const wellFmrs = table.points.filter(wellMeasured).map((p) => p.fmr);
  const tailTop = tail ? Math.max(...tail.points.map((p) => p.fmr)) : 0;
  // Where the tail's grid starts below the well-measured range, the table speaks down to the grid.
  const handOver = whole && wellFmrs.length ? Math.max(lowest, Math.min(Math.min(...wellFmrs), tailTop)) : lowest;
  if (comparisonFmr >= handOver * (1 - 1e-9)) {
    return { threshold: thresholdFor(table, Math.min(highest, comparisonFmr)), comparisonFmr, beyondCalibration: false, basis: 'measured', ...limit };
  }
  const floor = { rule: whole ? 'whole-tail' as const : 'strictest-measured' as const, fmr: handOver, threshold: thresholdFor(table, handOver) };
  if (!tail) return { threshold: floor.threshold, comparisonFmr, beyondCalibration: true, basis: 'beyond-limit' };
  const extra = { ...limit, floor, ...(whole ? { setAside: tail.setAside?.length ?? 0 } : {}) };
  const extrapolated = tailThreshold(tail, comparisonFmr);
  if (extrapolated !== undefined) return { threshold: Math.max(floor.threshold, extrapolated), comparisonFmr, beyondCalibration: false, basis: 'tail-model', tailBound: extrapolated, ...extra };
  const atLimit = tailThreshold(tail, tail.extrapolationLimit) ?? floor.threshold;
  return { threshold: Math.max(floor.threshold, atLimit), comparisonFmr, beyondCalibration: true, basis: 'beyond-limit', ...extra };
}

/** What an answer says about a threshold the table did not measure directly; undefined when it did. */
export function identificationNote(r: IdentificationThreshold, gallerySize: number): string | undefined {
  const fmr = r.comparisonFmr.toExponential(1);
  if (r.basis === 'tail-model') {
    const heldAtFloor = r.tailBound !== undefined && r.floor && r.tailBound < r.threshold;
    if (r.floor?.rule === 'whole-tail') {
      const held = heldAtFloor
        ? `; its bound (${r.tailBound!.toFixed(4)}) is below the threshold measured for ${r.floor!.fmr.toExponential(0)}, which was used so that a larger gallery never gets a looser one`
        : '';
      return `the gallery (${gallerySize} templates) needs a per-comparison false match rate of ${fmr}, below what the calibration's impostor pairs measure well (point estimates down to ${r.floor!.fmr.toExponential(0)}); the threshold is extrapolated by the calibration's fitted impostor tail model, fitted to the whole tail (its upper 95% bound with people resampled, never below what the fitted pairs show themselves), not measured${r.setAside ? `; ${r.setAside} identity pair(s) judged to be one person under two names were left out of the fit as not impostors, relatives kept` : ''}${held}`;
    }
    const held = heldAtFloor
      ? `; its bound (${r.tailBound!.toFixed(4)}) is below the strictest measured threshold, which was used so that a larger gallery never gets a looser one`
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
