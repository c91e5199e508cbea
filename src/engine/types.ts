import type { Box, Point } from './geometry.js';
import type { RgbImage } from './image.js';

/** What every model file declares about itself; the model card in prose lives beside it. */
export interface ModelCard {
  id: string;
  task: 'detection' | 'landmarks' | 'recognition' | 'presentation_attack_detection';
  source: { package: string; version: string; file: string; sha256: string };
  licence: string;
  provenance: string;
  input: string;
  output: string;
  limits: string[];
  /** Path of the prose card, relative to the project root. */
  cardPath: string;
}

export interface RawDetection {
  box: Box;
  score: number;
  /** The box's height in network pixels at the pyramid level that found it. */
  netHeight?: number;
  /** Five points from the detector itself, in the engine's order (see `Face.landmarks`), where it gives them. */
  landmarks?: Point[];
}

export interface FaceDetector {
  readonly card: ModelCard;
  detect(image: RgbImage, options: { minFaceSize: number; scoreThreshold: number }): Promise<RawDetection[]>;
  /** A second score for a candidate box, from a view re-framed around it (0 to 1). */
  secondLook(image: RgbImage, box: Box): Promise<number>;
}

export interface LandmarkLocator {
  readonly card: ModelCard;
  /**
   * 68 points in image coordinates (iBUG 300-W order), and how far the predictions on the crop
   * and on its mirror image disagree (mean distance per point, in crop sides): a face's two
   * halves agree, most things that are not faces do not.
   */
  locate(image: RgbImage, box: Box): Promise<{ points: Point[]; mirrorDisagreement: number }>;
}

export interface FaceEmbedder {
  readonly card: ModelCard;
  readonly dimension: number;
  /** Side of the square aligned crop the model expects. */
  readonly cropSize: number;
  /** The raw (not normalised) embedding of one aligned crop. */
  embed(crop: RgbImage): Promise<Float32Array>;
}

/**
 * A presentation-attack detector: how likely the face in `box` is a live person in front of the
 * camera rather than an artefact (a print, a screen, a mask) held up to it.
 */
export interface PresentationAttackDetector {
  readonly card: ModelCard;
  /** Bona fide score, 0 to 1: higher means more likely a live face. */
  bonaFideScore(image: RgbImage, box: Box): Promise<number>;
}
