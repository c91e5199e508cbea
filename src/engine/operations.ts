import { ProbityError } from '../errors.js';
import { loadCalibration } from '../matching/calibration.js';
import { operatingPointReport, scoreFmrAt, thresholdAt, type OperatingPointName, type OperatingPointReport } from '../matching/operating-point.js';
import { cosineSimilarity, type AnalysedFace, type Face, type FaceEngine, type Template } from './engine.js';
import type { RgbImage } from './image.js';
import { qualityAtLeast, type QualityLevel } from './quality.js';

export interface LabelledImage {
  /** How errors and notes name this image: a path, or "image_a". */
  label: string;
  image: RgbImage;
}

export interface DetectResult {
  width: number;
  height: number;
  faces: Face[];
}

export async function detectFaces(engine: FaceEngine, input: LabelledImage): Promise<DetectResult> {
  const faces = await engine.detect(input.image);
  return { width: input.image.width, height: input.image.height, faces };
}

export interface ProbeFace {
  face: AnalysedFace;
  facesInImage: number;
  note?: string;
}

/**
 * The one face a single-subject operation (compare, enrol, verify) uses: the best by quality,
 * then detection confidence, then size (see `rankFaces`), provided it reaches `minQuality`. Errors name the image and say why.
 */
export async function probeFace(engine: FaceEngine, input: LabelledImage, minQuality: QualityLevel): Promise<ProbeFace> {
  const faces = await engine.analyse(input.image);
  const face = faces[0];
  if (!face) throw new ProbityError('no_face', `${input.label}: no face found`);
  if (!qualityAtLeast(face.quality.level, minQuality)) {
    throw new ProbityError(
      'face_quality_too_low',
      `${input.label}: the face is of ${face.quality.level} quality, below the ${minQuality} required (${face.quality.reasons.join('; ')})`,
    );
  }
  const note = faces.length > 1 ? `${input.label} holds ${faces.length} faces; the best was used (quality, then detection confidence, then size)` : undefined;
  return { face, facesInImage: faces.length, ...(note ? { note } : {}) };
}

export interface CompareOptions {
  /** Target false match rate; the threshold comes from the model's calibration table. */
  fmr: number;
  minQuality: QualityLevel;
  /** Which promise the threshold keeps: for every measured group, or averaged over the calibration pairs. */
  operatingPoint?: OperatingPointName;
}

export const DEFAULT_COMPARE_OPTIONS: CompareOptions = { fmr: 1e-4, minQuality: 'medium', operatingPoint: 'average' };

export interface CompareResult {
  score: number;
  threshold: number;
  match: boolean;
  model: string;
  /** The target false match rate the threshold was set for. */
  fmr: number;
  /** The false match rate this score corresponds to on the calibration data. */
  scoreFmr: { fmr: number; bound: 'exact' | 'at-most' | 'at-least' };
  /** The operating point, what its FMR means, and the calibration table it came from. */
  operatingPoint: OperatingPointReport;
  faces: { label: string; facesInImage: number; box: Face['box']; quality: Face['quality'] }[];
  notes: string[];
}

export function compareTemplates(engine: FaceEngine, a: Template, b: Template, fmr: number, point: OperatingPointName = 'average'): Pick<CompareResult, 'score' | 'threshold' | 'match' | 'model' | 'fmr' | 'scoreFmr' | 'operatingPoint'> {
  const table = loadCalibration(engine.modelId, engine.config.flipAverage);
  const threshold = thresholdAt(table, point, fmr);
  const score = cosineSimilarity(a, b);
  return { score, threshold, match: score >= threshold, model: engine.modelId, fmr, scoreFmr: scoreFmrAt(table, point, score), operatingPoint: operatingPointReport(table, point, fmr) };
}

export async function compareImages(engine: FaceEngine, a: LabelledImage, b: LabelledImage, options: CompareOptions = DEFAULT_COMPARE_OPTIONS): Promise<CompareResult> {
  // Checked first so a bad --fmr fails before any model runs.
  const point = options.operatingPoint ?? 'average';
  thresholdAt(loadCalibration(engine.modelId, engine.config.flipAverage), point, options.fmr);
  const pa = await probeFace(engine, a, options.minQuality);
  const pb = await probeFace(engine, b, options.minQuality);
  const [ta, tb] = [await engine.template(pa.face), await engine.template(pb.face)];
  const decision = compareTemplates(engine, ta, tb, options.fmr, point);
  const describe = (label: string, p: ProbeFace) => ({ label, facesInImage: p.facesInImage, box: p.face.box, quality: p.face.quality });
  return {
    ...decision,
    faces: [describe(a.label, pa), describe(b.label, pb)],
    notes: [pa.note, pb.note].filter((n): n is string => n !== undefined),
  };
}
