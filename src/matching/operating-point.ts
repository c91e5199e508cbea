import { ProbityError } from '../errors.js';
import { calibrationReference, fmrForScore, thresholdFor, type CalibrationReference, type CalibrationTable } from './calibration.js';
import { identificationThreshold, type IdentificationThreshold } from './identification-threshold.js';

/**
 * Which promise a threshold keeps. `average`: the target FMR over all the calibration data's
 * impostor pairs, most of them of white men on LFW, so some groups fare worse. `equal_protection`:
 * the target FMR, as an upper 95% bound, for every measured group.
 */
export type OperatingPointName = 'equal_protection' | 'average';
export const OPERATING_POINTS: readonly OperatingPointName[] = ['equal_protection', 'average'];

export function parseOperatingPoint(value: unknown, label = 'operatingPoint'): OperatingPointName {
  if (value === 'equal_protection' || value === 'average') return value;
  throw new ProbityError('invalid_request', `${label} must be "equal_protection" or "average", got ${JSON.stringify(value)}`);
}

export interface OperatingPointReport {
  name: OperatingPointName;
  /** What the answer's FMR figure means at this operating point. */
  meaning: string;
  /** The table the threshold came from, and what it was measured on. */
  calibration: CalibrationReference;
  /** Why this operating point was used (an operator default, a purpose, a law). */
  reason?: string;
}

const sci = (v: number) => v.toExponential(0);

/** The equal-protection points, ascending threshold; an error where the table has none. */
function protectedPoints(table: CalibrationTable) {
  const ep = table.equalProtection;
  if (!ep || ep.points.length === 0) {
    throw new ProbityError('invalid_argument', `the calibration table for ${table.model} (${table.measuredOn}) has no per-group calibration: measure one with "probity evaluate" and demographic labels, or use the "average" operating point`);
  }
  return [...ep.points].sort((a, b) => b.fmr - a.fmr);
}

export function hasEqualProtection(table: CalibrationTable): boolean {
  return Boolean(table.equalProtection?.points.length);
}

/**
 * The equal-protection threshold for a target: a measured target's own threshold; between two
 * measured targets, the stricter one's (no promise is interpolated); outside the range, refused.
 */
export function equalProtectionThreshold(table: CalibrationTable, fmr: number): number {
  if (!(fmr > 0 && fmr < 1)) throw new ProbityError('invalid_argument', `the target FMR must be between 0 and 1, got ${fmr}`);
  const pts = protectedPoints(table);
  const eps = 1e-9;
  const at = pts.filter((p) => p.fmr <= fmr * (1 + eps));
  const first = pts[0]!, last = pts[pts.length - 1]!;
  if (fmr > first.fmr * (1 + eps) || at.length === 0) {
    throw new ProbityError('invalid_argument', `FMR ${fmr} is outside the range measured for every group of ${table.model} (${last.fmr} to ${first.fmr}); choose a target within it`);
  }
  return at[0]!.threshold;
}

export function thresholdAt(table: CalibrationTable, point: OperatingPointName, fmr: number): number {
  return point === 'equal_protection' ? equalProtectionThreshold(table, fmr) : thresholdFor(table, fmr);
}

/**
 * The FMR a score stands for. At `equal_protection`, the strictest measured target whose
 * threshold the score reaches: "at most" that rate for every measured group.
 */
export function scoreFmrAt(table: CalibrationTable, point: OperatingPointName, score: number): { fmr: number; bound: 'exact' | 'at-most' | 'at-least' } {
  if (point === 'average') return fmrForScore(table, score);
  const pts = protectedPoints(table);
  const reached = pts.filter((p) => score >= p.threshold);
  return reached.length ? { fmr: reached[reached.length - 1]!.fmr, bound: 'at-most' } : { fmr: pts[0]!.fmr, bound: 'at-least' };
}

/** The 1:N threshold at an operating point: as identificationThreshold, on the equal-protection points. */
export function identificationThresholdAt(table: CalibrationTable, point: OperatingPointName, fpir: number, gallerySize: number): IdentificationThreshold & { usedFmr: number } {
  if (point === 'average') {
    const fmrs = table.points.map((p) => p.fmr);
    const limit = identificationThreshold(table, fpir, gallerySize);
    const floor = limit.basis === 'measured' ? Math.min(...fmrs) : limit.basis === 'tail-model' ? 0 : (limit.extrapolationLimit ?? Math.min(...fmrs));
    return { ...limit, usedFmr: Math.min(Math.max(...fmrs), Math.max(floor, limit.comparisonFmr)) };
  }
  const pts = protectedPoints(table);
  const n = Math.max(1, gallerySize);
  const comparisonFmr = -Math.expm1(Math.log1p(-fpir) / n);
  const lowest = pts[pts.length - 1]!.fmr, highest = pts[0]!.fmr;
  const clamped = Math.min(highest, Math.max(lowest, comparisonFmr));
  const beyond = comparisonFmr < lowest * (1 - 1e-9);
  // The tail model is of all impostor pairs, not of each group: no per-group promise is extrapolated.
  return { threshold: equalProtectionThreshold(table, clamped), comparisonFmr, beyondCalibration: beyond, basis: beyond ? 'beyond-limit' : 'measured', usedFmr: clamped };
}

/** What an FMR figure means at this operating point, naming the groups the data cannot speak for. */
export function operatingPointReport(table: CalibrationTable, point: OperatingPointName, fmr: number, reason?: string, search?: Pick<IdentificationThreshold, 'basis' | 'comparisonFmr' | 'extrapolationLimit' | 'floor'>): OperatingPointReport {
  const dataset = table.source?.dataset ?? table.measuredOn.split(':')[0];
  let meaning: string;
  const measuredDownTo = sci(point === 'average' ? Math.min(...table.points.map((p) => p.fmr)) : protectedPoints(table).at(-1)!.fmr);
  // A 1:N search below the measured range: the figure is extrapolated, or nothing is promised; it is never presented as measured.
  if (search?.basis === 'beyond-limit') {
    const limit = point === 'average' && search.extrapolationLimit !== undefined ? ` and what its fitted impostor tail may speak for (${sci(search.extrapolationLimit)})` : '';
    meaning = `no false match rate can be promised: the search needs ${sci(search.comparisonFmr)} per comparison, below what ${dataset}'s impostor pairs measure${point === 'average' ? '' : ' for every group'} (down to ${measuredDownTo})${limit}; the strictest threshold available was used`;
  } else if (search?.basis === 'tail-model' && search.floor?.rule === 'whole-tail') {
    meaning = `${sci(search.comparisonFmr)} per comparison, below what ${dataset}'s impostor pairs measure well (point estimates down to ${sci(search.floor.fmr)}): extrapolated by the impostor tail model fitted to the whole tail (its upper 95% bound, people resampled; pairs of one person under two names set aside, relatives kept), never below the threshold measured for ${sci(search.floor.fmr)}; averaged over all pairs, not for each group`;
  } else if (search?.basis === 'tail-model') {
    meaning = `${sci(search.comparisonFmr)} per comparison, below what ${dataset}'s impostor pairs measure (down to ${measuredDownTo}): extrapolated by the fitted impostor tail model (its upper 95% bound), or the strictest measured threshold where that is stricter; averaged over all pairs, not for each group`;
  } else if (point === 'average') {
    meaning = `${sci(fmr)} averaged over ${dataset}'s impostor pairs, not for each group: groups under-represented there may be falsely matched more often (the accountability report gives each group's rate)`;
  } else {
    const pts = protectedPoints(table);
    const eq = pts.find((q) => q.fmr <= fmr * (1 + 1e-9)) ?? pts[pts.length - 1]!;
    const groups = [...new Set(eq.groups.filter((g) => g.used && g.grouping !== 'all').map((g) => g.grouping))].join(', ');
    meaning = `at most ${sci(fmr)} for every measured group (${groups}; upper 95% Clopper-Pearson bound on ${dataset}'s impostor pairs)` +
      (eq.cannotShow.length ? `; the data cannot show it for ${eq.cannotShow.map((c) => c.split(' (')[0]).join(', ')}, held to the strictest threshold their pairs support` : '');
  }
  return { name: point, meaning, calibration: calibrationReference(table), ...(reason ? { reason } : {}) };
}
