import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProbityError } from '../errors.js';

/**
 * A model's measured operating points: for each target false match rate, the similarity
 * threshold that gave it on the calibration data. Decisions use these, never a bare number.
 */
export interface CalibrationTable {
  model: string;
  measuredOn: string;
  method: string;
  generatedAt: string;
  /** The engine's PIPELINE_VERSION when measured: a table from another pipeline is stale. */
  pipelineVersion?: number;
  /** Whether templates were flip-averaged: the two kinds of template score differently. */
  flipAverage?: boolean;
  points: { fmr: number; threshold: number; tar?: number }[];
}

const calibrationDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'calibration');

const cache = new Map<string, CalibrationTable>();

/** File name of a model's table: flip-averaged templates (the default) and single ones differ. */
export function calibrationFile(model: string, flipAverage = true): string {
  return `${model}${flipAverage ? '' : '-single'}.json`;
}

export function loadCalibration(model: string, flipAverage = true, dir = calibrationDir): CalibrationTable {
  const path = join(dir, calibrationFile(model, flipAverage));
  const hit = cache.get(path);
  if (hit) return hit;
  if (!existsSync(path)) {
    throw new ProbityError('invalid_argument', `no calibration table for model "${model}" (expected ${path}); run "probity evaluate" to measure one`);
  }
  const table = JSON.parse(readFileSync(path, 'utf8')) as CalibrationTable;
  table.points.sort((a, b) => b.fmr - a.fmr);
  cache.set(path, table);
  return table;
}

/**
 * The threshold for a target FMR. Between measured points it interpolates linearly in
 * log10(FMR), which is how these curves behave; outside the measured range it refuses rather
 * than extrapolate a promise the data cannot keep.
 */
export function thresholdFor(table: CalibrationTable, fmr: number): number {
  if (!(fmr > 0 && fmr < 1)) throw new ProbityError('invalid_argument', `--fmr must be a number between 0 and 1, got ${fmr}`);
  const pts = table.points; // descending fmr, ascending threshold
  const first = pts[0], last = pts[pts.length - 1];
  if (!first || !last) throw new ProbityError('invalid_argument', `the calibration table for ${table.model} is empty`);
  const eps = 1e-9;
  if (fmr > first.fmr * (1 + eps) || fmr < last.fmr * (1 - eps)) {
    throw new ProbityError(
      'invalid_argument',
      `FMR ${fmr} is outside the range measured for ${table.model} (${last.fmr} to ${first.fmr}); choose a target within it`,
    );
  }
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i]!;
    if (Math.abs(Math.log10(p.fmr) - Math.log10(fmr)) < 1e-9) return p.threshold;
    const q = pts[i + 1];
    if (q && fmr < p.fmr && fmr > q.fmr) {
      const t = (Math.log10(p.fmr) - Math.log10(fmr)) / (Math.log10(p.fmr) - Math.log10(q.fmr));
      return p.threshold + t * (q.threshold - p.threshold);
    }
  }
  return last.threshold;
}

/**
 * The false match rate a score corresponds to, read back from the table (log-linear between
 * points). Scores beyond the table's ends are reported as bounds: "at most" the smallest FMR.
 */
export function fmrForScore(table: CalibrationTable, score: number): { fmr: number; bound: 'exact' | 'at-most' | 'at-least' } {
  const pts = table.points;
  const first = pts[0]!, last = pts[pts.length - 1]!;
  if (score >= last.threshold) return { fmr: last.fmr, bound: 'at-most' };
  if (score <= first.threshold) return { fmr: first.fmr, bound: 'at-least' };
  for (let i = 0; i + 1 < pts.length; i++) {
    const p = pts[i]!, q = pts[i + 1]!;
    if (score >= p.threshold && score <= q.threshold) {
      const t = (score - p.threshold) / (q.threshold - p.threshold || 1);
      return { fmr: 10 ** (Math.log10(p.fmr) + t * (Math.log10(q.fmr) - Math.log10(p.fmr))), bound: 'exact' };
    }
  }
  return { fmr: last.fmr, bound: 'at-most' };
}
