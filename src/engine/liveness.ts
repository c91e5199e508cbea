import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProbityError } from '../errors.js';
import type { Face, FaceEngine } from './engine.js';
import type { Box } from './geometry.js';
import type { RgbImage } from './image.js';
import { FACEPLUGIN_LIVENESS_CARD, FacepluginLiveness } from './models/faceplugin-liveness.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from './onnx.js';
import type { ModelCard, PresentationAttackDetector } from './types.js';

/**
 * Presentation-attack detection (ISO/IEC 30107 terms): is the face in front of the camera a
 * live person (bona fide) or an artefact held up to it (an attack)? One model per file in
 * models/; this module loads the one in use, its thresholds, and makes the decision.
 */

export const DEFAULT_LIVENESS_MODEL = FACEPLUGIN_LIVENESS_CARD.id;
/** The bona fide presentation classification error rate the default threshold is set for. */
export const DEFAULT_TARGET_BPCER = 0.05;

const LIVENESS_MODELS: readonly { card: ModelCard; load(r: RuntimeOptions): Promise<PresentationAttackDetector> }[] = [
  { card: FACEPLUGIN_LIVENESS_CARD, load: (r) => FacepluginLiveness.load(r) },
];

export function livenessModelIds(): string[] {
  return LIVENESS_MODELS.map((m) => m.card.id);
}

export async function loadLivenessModel(id: string = DEFAULT_LIVENESS_MODEL, runtime: RuntimeOptions = DEFAULT_RUNTIME): Promise<PresentationAttackDetector> {
  const entry = LIVENESS_MODELS.find((m) => m.card.id === id);
  if (!entry) throw new ProbityError('unknown_model', `unknown liveness model "${id}"; available: ${livenessModelIds().join(', ')}`);
  return entry.load(runtime);
}

/** Thresholds measured by `probity evaluate-pad` on people kept apart from those it reports on. */
export interface LivenessCalibration {
  model: string;
  dataset: string;
  /** Subjects the thresholds were chosen on; the published rates are on the others. */
  calibrationSubjects: string[];
  generatedAt: string;
  /** For each target BPCER, the threshold that keeps the calibration subjects' BPCER at or under it. */
  points: { bpcer: number; threshold: number; measuredBpcer: number; measuredApcer: number }[];
  /** What the default threshold did on the people kept apart, as the accountability report quotes it. */
  heldOut?: {
    subjects: string[];
    attackTypes: string[];
    targetBpcer: number;
    threshold: number;
    apcer: Record<string, { value: number; ci: { low: number; high: number } }>;
    bpcer: { value: number; ci: { low: number; high: number } };
    deer: { value: number; ci: { low: number; high: number } };
  };
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function livenessCalibrationFile(model: string): string {
  return join(packageRoot, 'calibration', `liveness-${model}.json`);
}

const cache = new Map<string, LivenessCalibration>();

export function loadLivenessCalibration(model: string): LivenessCalibration {
  const hit = cache.get(model);
  if (hit) return hit;
  const path = livenessCalibrationFile(model);
  if (!existsSync(path)) {
    throw new ProbityError('model_missing', `no liveness calibration for ${model} at ${path}; run "probity evaluate-pad --dataset DIR --write-calibration"`);
  }
  const table = JSON.parse(readFileSync(path, 'utf8')) as LivenessCalibration;
  cache.set(model, table);
  return table;
}

/** The threshold for a target BPCER: the calibrated point at or under the target closest to it. */
export function livenessThreshold(table: LivenessCalibration, bpcer: number): number {
  if (!(bpcer > 0 && bpcer < 1)) throw new ProbityError('invalid_argument', `the target BPCER must be between 0 and 1, got ${bpcer}`);
  const usable = table.points.filter((p) => p.bpcer <= bpcer + 1e-12).sort((a, b) => b.bpcer - a.bpcer);
  const point = usable[0];
  if (!point) {
    throw new ProbityError('invalid_argument', `no threshold was calibrated for a BPCER of ${bpcer} or under; calibrated: ${table.points.map((p) => p.bpcer).join(', ')}`);
  }
  return point.threshold;
}

export interface LivenessDecision {
  model: string;
  /** Bona fide score, 0 to 1. */
  score: number;
  threshold: number;
  /** The target BPCER the threshold was set for. */
  bpcer: number;
  /** True when the face is judged a live person (score at or above the threshold). */
  live: boolean;
}

export class LivenessChecker {
  private constructor(readonly detector: PresentationAttackDetector, private readonly table: LivenessCalibration) {}

  static async load(model: string = DEFAULT_LIVENESS_MODEL, runtime: RuntimeOptions = DEFAULT_RUNTIME): Promise<LivenessChecker> {
    const table = loadLivenessCalibration(model);
    return new LivenessChecker(await loadLivenessModel(model, runtime), table);
  }

  get card(): ModelCard {
    return this.detector.card;
  }

  threshold(bpcer: number = DEFAULT_TARGET_BPCER): number {
    return livenessThreshold(this.table, bpcer);
  }

  /** The decision on the face in `box`. */
  async assess(image: RgbImage, box: Box, bpcer: number = DEFAULT_TARGET_BPCER): Promise<LivenessDecision> {
    const threshold = this.threshold(bpcer);
    const score = await this.detector.bonaFideScore(image, box);
    return { model: this.card.id, score: Math.round(score * 1e6) / 1e6, threshold, bpcer, live: score >= threshold };
  }
}

export interface LivenessResult extends LivenessDecision {
  /** The face judged: the largest in the image. */
  face: Pick<Face, 'box' | 'score'>;
  facesInImage: number;
  notes: string[];
}

/** Finds the largest face in an image and judges it. */
export async function checkLiveness(engine: FaceEngine, checker: LivenessChecker, input: { label: string; image: RgbImage }, bpcer: number = DEFAULT_TARGET_BPCER): Promise<LivenessResult> {
  checker.threshold(bpcer); // a bad target fails before any model runs
  const faces = await engine.detect(input.image);
  const face = faces[0];
  if (!face) throw new ProbityError('no_face', `${input.label}: no face found`);
  const decision = await checker.assess(input.image, face.box, bpcer);
  const notes = faces.length > 1 ? [`${input.label} holds ${faces.length} faces; the largest was judged`] : [];
  return { ...decision, face: { box: face.box, score: face.score }, facesInImage: faces.length, notes };
}
