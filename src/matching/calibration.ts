import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIPELINE_VERSION } from '../engine/engine.js';
import { ProbityError } from '../errors.js';
import type { ImpostorTail } from './impostor-tail.js';
import { thresholdBetweenPoints } from './log-linear.js';

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
  /** For a model loaded from a file: the SHA-256 of the very file measured. Such a model is served only with a table recording its hash. */
  modelSha256?: string;
  /** For a model loaded from a file: the hash of the card fields that change templates (input size, channels, normalisation, alignment, output). */
  inputSpecSha256?: string;
  /** File name of a table given at start-up (`--calibration`), so answers name it; not stored in the table. */
  file?: string;
  /** What the table was measured on, field by field (issue 14: every table records its source). */
  source?: CalibrationSource;
  /**
   * The `average` operating point: each target FMR over all impostor pairs. `basis` says whether
   * the threshold is the point estimate or, where the data are thin (fewer than 100 false
   * matches allowed), the one at which the upper 95% Clopper-Pearson bound reaches the target.
   */
  points: { fmr: number; threshold: number; tar?: number; basis?: 'point-estimate' | 'upper-bound'; falseMatches?: number; fmrUpperBound?: number }[];
  /** The `equal_protection` operating point: thresholds that hold the target for every measured group. */
  equalProtection?: EqualProtectionCalibration;
  /** A fitted model of the impostor tail: 1:N thresholds below the measured range, within its extrapolation limit. */
  tail?: ImpostorTail;
}

export interface CalibrationSource {
  dataset: string;
  images: number;
  identities: number;
  genuinePairs: number;
  impostorPairs: number;
  /** True when only a slice of the data set was used. */
  sliced: boolean;
  measuredAt: string;
  model: string;
  /** The SHA-256 of the model file measured, for a model loaded from a file. */
  modelSha256?: string;
  pipeline: { version: number; flipAverage: boolean; minFaceSize: number; detectionThreshold: number };
}

/** One group's impostor pairs and false matches at an equal-protection threshold. */
export interface EqualProtectionGroup {
  grouping: string;
  group: string;
  identities: number;
  impostorPairs: number;
  /** False matches at the chosen threshold, and the upper 95% bound on the group's FMR they give. */
  falseMatches: number;
  fmrUpperBound: number;
  /** The threshold this group alone needs. */
  threshold: number;
  /** False when the group has too few impostor pairs for any threshold to show the target. */
  reachesTarget: boolean;
  /** Whether the group took part in setting the threshold (race x sex groups only where they reach the target). */
  used: boolean;
}

export interface EqualProtectionPoint {
  fmr: number;
  threshold: number;
  /** The group whose bound set the threshold. */
  bindingGroup: string;
  /** True when every group used could show the target; otherwise see `cannotShow`. */
  everyGroupReaches: boolean;
  /** Groups whose pairs cannot show the target: for them the strictest threshold the data support is used. */
  cannotShow: string[];
  tar?: number;
  groups: EqualProtectionGroup[];
}

export interface EqualProtectionCalibration {
  method: string;
  confidence: number;
  bound: 'clopper-pearson';
  fittedOn: string;
  groupings: string[];
  points: EqualProtectionPoint[];
}

const calibrationDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'calibration');

const cache = new Map<string, CalibrationTable>();

/**
 * File name of a model's table: flip-averaged and single templates score differently, so each
 * has its own (`<model>.json` and `<model>-single.json`; tables from before the choice existed
 * were flip-averaged, hence the default here).
 */
export function calibrationFile(model: string, flipAverage = true): string {
  return `${model}${flipAverage ? '' : '-single'}.json`;
}

/** Tables given at start-up for models loaded from a file, by model id and template kind; they take the place of the shipped folder. */
const given = new Map<string, CalibrationTable>();

/**
 * Reads the operator's table for a model loaded from a file and makes it the one `loadCalibration`
 * answers for that model. Refused unless it was measured on that very file (same SHA-256), with the
 * same kind of template and the same pipeline: a threshold from any other model promises nothing.
 */
export function useCalibrationTable(path: string, model: { id: string; sha256: string; inputSpecSha256?: string; flipAverage: boolean; pipelineVersion: number }): CalibrationTable {
  if (!existsSync(path)) throw new ProbityError('file_not_found', `calibration table ${path} does not exist`);
  let table: CalibrationTable;
  try {
    table = JSON.parse(readFileSync(path, 'utf8')) as CalibrationTable;
  } catch (e) {
    throw new ProbityError('invalid_argument', `calibration table ${path} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Array.isArray(table.points) || table.points.length === 0) throw new ProbityError('invalid_argument', `calibration table ${path} has no operating points`);
  const refuse = (why: string) => {
    throw new ProbityError('model_mismatch', `calibration table ${path} was not measured for this model: ${why}; run "probity evaluate --model-file ..." (or "probity calibrate") with this model to measure its own`);
  };
  if (!table.modelSha256) refuse(`it records no model SHA-256 (it is ${table.model}'s)`);
  if (table.modelSha256!.toLowerCase() !== model.sha256.toLowerCase()) refuse(`it records model SHA-256 ${table.modelSha256}, the file loaded has ${model.sha256}`);
  if ((table.inputSpecSha256 ?? null) !== (model.inputSpecSha256 ?? null)) refuse(`it was measured with the model fed differently (input size, channels, normalisation, alignment or output in the card changed)`);
  if (table.model !== model.id) refuse(`it is for model id "${table.model}", the card says "${model.id}"`);
  if ((table.flipAverage ?? true) !== model.flipAverage) refuse(`it was measured with${table.flipAverage ?? true ? '' : 'out'} flip-averaging, the engine runs with${model.flipAverage ? '' : 'out'}`);
  if (table.pipelineVersion !== model.pipelineVersion) refuse(`it was measured on pipeline ${table.pipelineVersion ?? 'unknown'}, this engine is pipeline ${model.pipelineVersion}`);
  table.points.sort((a, b) => b.fmr - a.fmr);
  table.file = basename(path);
  given.set(`${model.id}\u0000${model.flipAverage}`, table);
  return table;
}

/** The table for `model` and the engine's template kind: no default, so no caller can pick the other kind's thresholds by leaving it out. */
export function loadCalibration(model: string, flipAverage: boolean, dir = calibrationDir): CalibrationTable {
  const own = given.get(`${model}\u0000${flipAverage}`);
  if (own) return own;
  const path = join(dir, calibrationFile(model, flipAverage));
  const hit = cache.get(path);
  if (hit) return hit;
  if (!existsSync(path)) {
    throw new ProbityError('invalid_argument', `no calibration table for model "${model}" (expected ${path}); run "probity evaluate" to measure one`);
  }
  const table = JSON.parse(readFileSync(path, 'utf8')) as CalibrationTable;
  // A table measured on another pipeline promises nothing for this one's templates: refused, not used.
  if (table.pipelineVersion !== undefined && table.pipelineVersion !== PIPELINE_VERSION) {
    throw new ProbityError('model_mismatch', `the calibration table ${path} was measured on pipeline ${table.pipelineVersion}, this engine is pipeline ${PIPELINE_VERSION}: rerun "probity evaluate${flipAverage ? ' --flip' : ''}" and copy the table it writes into calibration/`);
  }
  table.points.sort((a, b) => b.fmr - a.fmr);
  cache.set(path, table);
  return table;
}

/**
 * The threshold for a target FMR. Between measured points it interpolates linearly in
 * log10(FMR), which is how these curves behave; outside the measured range it refuses rather
 * than extrapolate a promise the data cannot keep.
 */
/**
 * A target rate must lie within what was measured, for verification's FMR as for
 * identification's FPIR: refused with one code and wording, never clamped to a rate the caller
 * did not ask for.
 */
export function requireMeasuredRate(table: CalibrationTable, name: 'FMR' | 'FPIR', rate: number): void {
  const pts = table.points; // descending fmr
  const first = pts[0], last = pts[pts.length - 1];
  if (!first || !last) throw new ProbityError('invalid_argument', `the calibration table for ${table.model} is empty`);
  if (!(rate > 0 && rate < 1)) throw new ProbityError('invalid_argument', `${name} must be a number between 0 and 1, got ${rate}`);
  const eps = 1e-9;
  if (rate > first.fmr * (1 + eps) || rate < last.fmr * (1 - eps)) {
    throw new ProbityError('invalid_argument', `${name} ${rate} is outside the range measured for ${table.model} (${last.fmr} to ${first.fmr}); choose a target within it`);
  }
}

export function thresholdFor(table: CalibrationTable, fmr: number): number {
  requireMeasuredRate(table, 'FMR', fmr);
  const pts = table.points; // descending fmr, ascending threshold
  return thresholdBetweenPoints(pts, fmr) ?? pts[pts.length - 1]!.threshold;
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

/** How an answer names the table its threshold came from. */
export interface CalibrationReference {
  table: string;
  model: string;
  measuredOn: string;
  generatedAt: string;
  pipelineVersion?: number;
  flipAverage?: boolean;
  source?: CalibrationSource;
}

export function calibrationReference(table: CalibrationTable): CalibrationReference {
  return {
    table: table.file ?? calibrationFile(table.model, table.flipAverage ?? true), model: table.model, measuredOn: table.measuredOn, generatedAt: table.generatedAt,
    ...(table.pipelineVersion !== undefined ? { pipelineVersion: table.pipelineVersion } : {}),
    ...(table.flipAverage !== undefined ? { flipAverage: table.flipAverage } : {}),
    ...(table.source ? { source: table.source } : {}),
  };
}
