import { thresholdFor, type CalibrationTable } from './calibration.js';

export interface IdentificationThreshold {
  threshold: number;
  /** The per-comparison false match rate that keeps the whole search at the target FPIR. */
  comparisonFmr: number;
  /** True when the gallery is so large that the needed FMR lies beyond what was measured. */
  beyondCalibration: boolean;
}

/**
 * A search compares the probe with every template in the gallery, and a false positive needs
 * only one of them to match: FPIR = 1 - (1 - FMR)^N. So the per-comparison FMR is
 * 1 - (1 - FPIR)^(1/N) (about FPIR / N), and the threshold rises as the gallery grows. Where
 * that FMR is below the calibration's smallest measured point, the strictest measured
 * threshold is used and the answer says the target cannot be promised.
 */
export function identificationThreshold(table: CalibrationTable, fpir: number, gallerySize: number): IdentificationThreshold {
  const n = Math.max(1, gallerySize);
  const comparisonFmr = -Math.expm1(Math.log1p(-fpir) / n);
  const fmrs = table.points.map((p) => p.fmr);
  const lowest = Math.min(...fmrs), highest = Math.max(...fmrs);
  const clamped = Math.min(highest, Math.max(lowest, comparisonFmr));
  return { threshold: thresholdFor(table, clamped), comparisonFmr, beyondCalibration: comparisonFmr < lowest * (1 - 1e-9) };
}
