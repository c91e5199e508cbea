import { ProbityError } from '../errors.js';
import { ARCFACE_112_TEMPLATE, mirror, similarityTransform, warpAffine } from './align.js';
import type { Box, Point } from './geometry.js';
import { applyAffine } from './geometry.js';
import type { RgbImage } from './image.js';
import { cropResize } from './image.js';
import { OnnxFileEmbedder, type ModelFileSpec } from './models/model-file.js';
import { DEFAULT_RECOGNITION_MODEL, recognitionEntry } from './models/registry.js';
import { YuNetDetector, type YuNetDetection, type YuNetVariant } from './models/yunet.js';
import { DEFAULT_SECOND_LOOK_THRESHOLD, rankFaces, secondLooks, type SecondLookVerdict } from './face-check.js';
import { DEFAULT_RUNTIME, type RuntimeOptions } from './onnx.js';
import type { FaceQuality, QualityThresholds } from './quality.js';
import { assessQuality, DEFAULT_QUALITY_THRESHOLDS, estimatePose, laplacianVariance } from './quality.js';
import type { FaceEmbedder, ModelCard } from './types.js';

/**
 * Bumped whenever a change to decoding, detection, landmarks, alignment or embedding can change
 * a template: cached templates and calibration tables carry it, so stale ones are not reused.
 */
export const PIPELINE_VERSION = 3;

/** Marks a stored template kind as a single template (see `FaceEngine.templateKind`). */
export const SINGLE_TEMPLATE_SUFFIX = '/single';

export interface EngineConfig {
  /** Recognition model id (see `recognitionModelIds()`); ignored when `modelFile` is given. */
  model: string;
  /** An operator-supplied recognition model, checked against its SHA-256 before it loads. */
  modelFile?: ModelFileSpec;
  /** The YuNet detector: `n` (the default) or `s` (see src/engine/models/yunet.md for why `n`). */
  detector: YuNetVariant;
  /** Smallest face, in source pixels, the detector must find; smaller values cost detection time. */
  minFaceSize: number;
  /** Detection score below which a candidate box is dropped. */
  detectionThreshold: number;
  /**
   * Second-look score (the detector's, on a view re-framed around the candidate) below which a
   * candidate is not a face; 0 turns the second look off. See src/engine/face-check.ts.
   */
  secondLookThreshold: number;
  /**
   * Average each template with that of the mirrored face. Off by default: on LFW it gains 0.07
   * points of TAR at FMR 1e-4 and 0.24 at 1e-5 for twice the embedding time, and the default
   * pipeline cannot come near 20 ms per face with it (see docs/performance.md, Speed). Each
   * setting has its own calibration table, with its own equal-protection points.
   */
  flipAverage: boolean;
  quality: QualityThresholds;
  runtime: RuntimeOptions;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  model: DEFAULT_RECOGNITION_MODEL,
  detector: 'n',
  minFaceSize: 40,
  detectionThreshold: 0.5,
  secondLookThreshold: DEFAULT_SECOND_LOOK_THRESHOLD,
  flipAverage: false,
  quality: DEFAULT_QUALITY_THRESHOLDS,
  runtime: DEFAULT_RUNTIME,
};

export interface Face {
  /**
   * The detector's own box, in source pixels: YuNet's tight face box (brow to chin, cheek to
   * cheek, not the hair or ears), as found, not squared or widened. May run past the image edge.
   */
  box: Box;
  /** Detector confidence, 0 to 1. */
  score: number;
  /** The second look's score (0 to 1), when the second look is on. */
  secondLookScore?: number;
  /** Eye centres, nose tip, mouth corners, as seen in the image (image-left first), from the detector. */
  landmarks: Point[];
  quality: FaceQuality;
}

/** A face with what the engine needs to embed it; kept out of `Face` so results stay small. */
export interface AnalysedFace extends Face {
  /** The 112x112 crop aligned to the five-point template. */
  aligned: RgbImage;
}

/** A detector candidate and what the engine made of it. */
export type ScreenedCandidate = SecondLookVerdict;

export interface Template {
  model: string;
  /** L2-normalised embedding. */
  vector: Float32Array;
}

export interface StageTimer {
  (stage: 'detect' | 'secondLook' | 'align' | 'embed', ms: number): void;
}

const ALIGN_SIZE = 112;

export class FaceEngine {
  private constructor(
    readonly config: EngineConfig,
    private readonly detector: YuNetDetector,
    private readonly embedder: FaceEmbedder,
  ) {}

  static async load(config: Partial<EngineConfig> = {}): Promise<FaceEngine> {
    const full: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, ...config };
    const spec = full.modelFile;
    const [detector, embedder] = await Promise.all([
      YuNetDetector.load(full.runtime, full.detector),
      spec ? OnnxFileEmbedder.load(spec, full.runtime) : recognitionEntry(full.model).load(full.runtime),
    ]);
    return new FaceEngine({ ...full, model: embedder.card.id }, detector, embedder);
  }

  get modelId(): string {
    return this.embedder.card.id;
  }

  /**
   * What a stored template records it was made by: the model, and `/single` when its templates are
   * not flip-averaged. A single template and a flip-averaged one of the same model score on
   * different tables, so a gallery keeps to one kind. The bare id means flip-averaged because
   * every template stored before single templates became the default was.
   */
  get templateKind(): string {
    return this.config.flipAverage ? this.modelId : `${this.modelId}${SINGLE_TEMPLATE_SUFFIX}`;
  }

  /** The pipeline its templates are made on: stored with each template, and a gallery keeps to one (see model-guard.ts). */
  get pipelineVersion(): number {
    return PIPELINE_VERSION;
  }

  /** SHA-256 of the recognition model's file: an operator's own calibration table must record the same. */
  get modelSha256(): string {
    return this.embedder.card.source.sha256;
  }

  /** For a model loaded from a file: the hash of how its card feeds it (see `inputSpecSha256`). */
  get inputSpecSha256(): string | undefined {
    return this.embedder instanceof OnnxFileEmbedder ? this.embedder.inputSpecSha256 : undefined;
  }

  get cards(): ModelCard[] {
    return [this.detector.card, this.embedder.card];
  }

  /**
   * Every face in the image, each with landmarks, quality and its aligned crop; the face a
   * single-subject operation should use comes first (see `rankFaces`).
   */
  async analyse(image: RgbImage, timer?: StageTimer): Promise<AnalysedFace[]> {
    return (await this.screen(image, timer)).faces;
  }

  /**
   * Every candidate the detector found and what became of it: a face, the same face found
   * twice, or not a face (the second look said so). `faces` is `analyse`'s answer.
   */
  async screen(image: RgbImage, timer?: StageTimer): Promise<{ candidates: ScreenedCandidate[]; faces: AnalysedFace[] }> {
    let t = performance.now();
    const detections = await this.detector.detect(image, {
      minFaceSize: this.config.minFaceSize,
      scoreThreshold: this.config.detectionThreshold,
    });
    timer?.('detect', performance.now() - t);
    t = performance.now();
    const looks = await secondLooks(this.detector, image, detections, this.config.secondLookThreshold);
    if (this.config.secondLookThreshold > 0) timer?.('secondLook', performance.now() - t);
    const faces: AnalysedFace[] = [];
    for (const look of looks) {
      if (look.verdict !== 'face') continue;
      const d = look.detection as YuNetDetection;
      const analysed = await this.analyseLandmarks(image, d.box, d.score, d.landmarks, timer);
      faces.push(look.secondLookScore === undefined ? analysed : { ...analysed, secondLookScore: look.secondLookScore });
    }
    return { candidates: looks, faces: rankFaces(faces) };
  }

  /**
   * Alignment and quality for a face whose box is already known (a data set's fixed box, or a
   * candidate the second look doubted): its five points are `landmarks` when given (a candidate's
   * own), else the detector's look at the box, or, where it finds nothing there, the alignment
   * template laid over the box.
   */
  async analyseBox(image: RgbImage, box: Box, score: number, timer?: StageTimer, landmarks?: Point[]): Promise<AnalysedFace> {
    if (landmarks) return this.analyseLandmarks(image, box, score, landmarks, timer);
    const t = performance.now();
    const look = await this.detector.look(image, box);
    timer?.('secondLook', performance.now() - t);
    return this.analyseLandmarks(image, box, score, look?.landmarks ?? templatePointsIn(box), timer);
  }

  private async analyseLandmarks(image: RgbImage, box: Box, score: number, landmarks: Point[], timer?: StageTimer): Promise<AnalysedFace> {
    const t = performance.now();
    const aligned = await alignFace(image, landmarks, this.embedder.cropSize);
    const quality = assessQuality(
      {
        interEyePx: Math.hypot(landmarks[1]![0] - landmarks[0]![0], landmarks[1]![1] - landmarks[0]![1]),
        ...estimatePose(landmarks),
        sharpness: laplacianVariance(aligned),
        detectionScore: score,
      },
      this.config.quality,
    );
    timer?.('align', performance.now() - t);
    return { box, score, landmarks, quality, aligned };
  }

  async detect(image: RgbImage): Promise<Face[]> {
    return (await this.analyse(image)).map(({ aligned: _aligned, ...face }) => face);
  }

  /** The face's template: embedding of the aligned crop, averaged with its mirror image if configured. */
  async template(face: AnalysedFace, timer?: StageTimer): Promise<Template> {
    const t = performance.now();
    const v = await this.embedder.embed(face.aligned);
    if (this.config.flipAverage) {
      const m = await this.embedder.embed(mirror(face.aligned));
      for (let i = 0; i < v.length; i++) v[i]! += m[i]!;
    }
    timer?.('embed', performance.now() - t);
    return { model: this.embedder.card.id, vector: l2normalise(v) };
  }
}

export function l2normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (n === 0) throw new ProbityError('invalid_argument', 'cannot normalise an all-zero embedding');
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/**
 * Warp the face onto the five-point template. A face much larger than the crop is first cut out
 * and shrunk by sharp with a proper filter, since bilinear warping alone would alias.
 */
export async function alignFace(image: RgbImage, landmarks: Point[], size = ALIGN_SIZE, filterBelow = 0.6): Promise<RgbImage> {
  const template = ARCFACE_112_TEMPLATE.map(([x, y]): Point => [(x * size) / 112, (y * size) / 112]);
  const m = similarityTransform(landmarks, template);
  const scale = Math.hypot(m[0], m[3]);
  if (scale >= filterBelow) return warpAffine(image, m, size);
  // Bounds of the crop's footprint in the source, with a margin for bilinear taps.
  const inv = similarityTransform(template, landmarks);
  const corners = ([[0, 0], [size, 0], [0, size], [size, size]] as Point[]).map((c) => applyAffine(inv, c));
  const x0 = Math.floor(Math.min(...corners.map((c) => c[0]))) - 2;
  const y0 = Math.floor(Math.min(...corners.map((c) => c[1]))) - 2;
  const x1 = Math.ceil(Math.max(...corners.map((c) => c[0]))) + 2;
  const y1 = Math.ceil(Math.max(...corners.map((c) => c[1]))) + 2;
  const outW = Math.max(1, Math.round((x1 - x0) * scale));
  const outH = Math.max(1, Math.round((y1 - y0) * scale));
  const region = await cropResize(image, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, outW, outH);
  const sx = outW / (x1 - x0), sy = outH / (y1 - y0);
  const local = landmarks.map(([x, y]): Point => [(x - x0) * sx, (y - y0) * sy]);
  return warpAffine(region, similarityTransform(local, template), size);
}

/**
 * The alignment template's five points laid over a box the detector found nothing in (LFW's
 * fixed box for the few portraits it misses): a template for the protocol, counted as a miss.
 */
export function templatePointsIn(box: Box): Point[] {
  return ARCFACE_112_TEMPLATE.map(([x, y]): Point => [box.x + (x / 112) * box.width, box.y + (y / 112) * box.height]);
}

/** Cosine similarity of two L2-normalised templates of the same model. */
export function cosineSimilarity(a: Template, b: Template): number {
  if (a.model !== b.model) {
    throw new ProbityError('model_mismatch', `templates come from different models (${a.model} and ${b.model}) and cannot be compared`);
  }
  if (a.vector.length !== b.vector.length) {
    throw new ProbityError('model_mismatch', `templates differ in length (${a.vector.length} and ${b.vector.length})`);
  }
  let s = 0;
  for (let i = 0; i < a.vector.length; i++) s += a.vector[i]! * b.vector[i]!;
  return s;
}
