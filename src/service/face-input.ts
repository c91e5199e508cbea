import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { RgbImage } from '../engine/image.js';
import type { AnalysedFace, FaceEngine, Template } from '../engine/engine.js';
import { decodeImage } from '../engine/image.js';
import { qualityAtLeast, type QualityLevel } from '../engine/quality.js';
import { ProbityError } from '../errors.js';

/** An image as it arrives: its bytes and how errors should name it ("images[1]", "image_a"). */
export interface ImageInput {
  label: string;
  bytes: Buffer;
}

export interface ExtractedFace {
  label: string;
  /** SHA-256 of the image bytes, for the audit log; the image itself is not kept. */
  sha256: string;
  face: AnalysedFace;
  facesInImage: number;
  template: Template;
  note?: string;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * From image bytes to the one face a request is about, and its template. `single` demands that
 * the image hold exactly one face (enrolment: whom to enrol must not be a guess); otherwise the
 * best by quality, then detection confidence, then size is used (see `rankFaces`) and a note says so.
 */
export async function extractFace(
  engine: FaceEngine,
  input: ImageInput,
  options: { minQuality: QualityLevel; single: boolean },
): Promise<ExtractedFace> {
  const image = await decodeImage(input.bytes, input.label);
  const faces = await engine.analyse(image);
  const face = faces[0];
  if (!face) throw new ProbityError('no_face', `${input.label}: no face found`);
  if (options.single && faces.length > 1) {
    throw new ProbityError('several_faces', `${input.label}: ${faces.length} faces found where one is needed; send an image of the one person only`);
  }
  if (!qualityAtLeast(face.quality.level, options.minQuality)) {
    throw new ProbityError(
      'face_quality_too_low',
      `${input.label}: the face is of ${face.quality.level} quality, below the ${options.minQuality} required (${face.quality.reasons.join('; ')})`,
    );
  }
  const template = await engine.template(face);
  const note = faces.length > 1 ? `${input.label} holds ${faces.length} faces; the best was used (quality, then detection confidence, then size)` : undefined;
  return { label: input.label, sha256: sha256(input.bytes), face, facesInImage: faces.length, template, ...(note ? { note } : {}) };
}

/** An aligned face crop as PNG: what a reviewer looks at. */
export function facePng(aligned: RgbImage): Promise<Buffer> {
  return sharp(Buffer.from(aligned.data), { raw: { width: aligned.width, height: aligned.height, channels: 3 } }).png().toBuffer();
}

/** What a response may say about a face: where it is and how good it is, never its template. */
export function describeFace(f: ExtractedFace) {
  return { label: f.label, facesInImage: f.facesInImage, box: f.face.box, quality: f.face.quality };
}
