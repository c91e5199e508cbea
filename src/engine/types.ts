import type { Box, Point } from './geometry.js';
import type { RgbImage } from './image.js';

/** What every model file declares about itself; the model card in prose lives beside it. */
export interface ModelCard {
  id: string;
  task: 'detection' | 'landmarks' | 'recognition';
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
}

export interface FaceDetector {
  readonly card: ModelCard;
  detect(image: RgbImage, options: { minFaceSize: number; scoreThreshold: number }): Promise<RawDetection[]>;
}

export interface LandmarkLocator {
  readonly card: ModelCard;
  /** 68 points in image coordinates (iBUG 300-W order). */
  locate(image: RgbImage, box: Box): Promise<Point[]>;
}

export interface FaceEmbedder {
  readonly card: ModelCard;
  readonly dimension: number;
  /** Side of the square aligned crop the model expects. */
  readonly cropSize: number;
  /** The raw (not normalised) embedding of one aligned crop. */
  embed(crop: RgbImage): Promise<Float32Array>;
}
