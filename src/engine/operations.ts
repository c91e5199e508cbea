import { ProbityError } from '../errors.js';
import { loadCalibration } from '../matching/calibration.js';
import { operatingPointReport, scoreFmrAt, thresholdAt, type OperatingPointName, type OperatingPointReport } from '../matching/operating-point.js';
import { cosineSimilarity, type AnalysedFace, type Face, type FaceEngine, type Template } from './engine.js';
import type { RgbImage } from './image.js';
import { qualityAtLeast, type QualityLevel } from './quality.js';
import { describeBox, subjectFace, subjectNote } from './subject-face.js';

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
  /** How many other faces the image holds (see `subjectFace`). */
  otherFaces: number;
  /** The face's prominence over the next face's, when there are others. */
  lead?: number;
  note?: string;
}

/**
 * The one face a single-subject operation (compare, enrol, verify) uses: the person in the
 * photograph (see `subjectFace`: one face clearly dominant, or the photograph is refused naming
 * the faces), provided it reaches `minQuality`; never another face in its place. Errors name the image and say why.
 */
export async function probeFace(engine: FaceEngine, input: LabelledImage, minQuality: QualityLevel): Promise<ProbeFace> {
  return subjectOf(await engine.analyse(input.image), input.image, input.label, minQuality);
}

/** `probeFace` on faces already found: the service's entry, which decodes and analyses on its own. */
export function subjectOf(faces: AnalysedFace[], image: { width: number; height: number }, label: string, minQuality: QualityLevel): ProbeFace {
  const chosen = subjectFace(faces, image, label);
  if (!chosen) throw new ProbityError('no_face', `${label}: no face found`);
  const face = chosen.face;
  if (!qualityAtLeast(face.quality.level, minQuality)) {
    throw new ProbityError(
      'face_quality_too_low',
      `${label}: the face${chosen.otherFaces ? ` at ${describeBox(face.box)}` : ''} is of ${face.quality.level} quality, below the ${minQuality} required (${face.quality.reasons.join('; ')})`,
    );
  }
  const note = subjectNote(label, chosen);
  return { face, facesInImage: faces.length, otherFaces: chosen.otherFaces, ...(chosen.lead !== undefined ? { lead: chosen.lead } : {}), ...(note ? { note } : {}) };
}

/** What an answer says about the face used: where it is, how good, and how many others the image held. */
export interface FaceUsed {
  label: string;
  facesInImage: number;
  box: Face['box'];
  quality: Face['quality'];
  otherFaces: number;
  lead?: number;
}

export function describeProbe(label: string, p: ProbeFace): FaceUsed {
  return { label, facesInImage: p.facesInImage, box: p.face.box, quality: p.face.quality, otherFaces: p.otherFaces, ...(p.lead !== undefined ? { lead: p.lead } : {}) };
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
  faces: FaceUsed[];
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
  return {
    ...decision,
    faces: [describeProbe(a.label, pa), describeProbe(b.label, pb)],
    notes: [pa.note, pb.note].filter((n): n is string => n !== undefined),
  };
}
