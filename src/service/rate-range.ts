import { ProbityError } from '../errors.js';
import type { CalibrationTable } from '../matching/calibration.js';

/**
 * A target rate must lie within what was measured, for identification's FPIR as for
 * verification's FMR: the same refusal, code and wording as `thresholdFor` gives, rather than
 * a silent clamp to a rate the caller did not ask for.
 */
export function requireMeasuredRate(table: CalibrationTable, name: 'FMR' | 'FPIR', rate: number): void {
  const fmrs = table.points.map((p) => p.fmr);
  const lowest = Math.min(...fmrs), highest = Math.max(...fmrs);
  const eps = 1e-9;
  if (!(rate > 0 && rate < 1) || rate > highest * (1 + eps) || rate < lowest * (1 - eps)) {
    throw new ProbityError('invalid_argument', `${name} ${rate} is outside the range measured for ${table.model} (${lowest} to ${highest}); choose a target within it`);
  }
}
