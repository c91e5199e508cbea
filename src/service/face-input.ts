import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { RgbImage } from '../engine/image.js';
import type { AnalysedFace, FaceEngine, Template } from '../engine/engine.js';
import { decodeImage } from '../engine/image.js';
import { qualityAtLeast, type QualityLevel } from '../engine/quality.js';
import { describeProbe, subjectOf, type FaceUsed, type ProbeFace } from '../engine/operations.js';
import { ProbityError, type ProbityErrorCode } from '../errors.js';

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
  /** How many other faces the image holds. */
  otherFaces: number;
  /** With `subject`: the face's prominence over the next face's, when there are others. */
  lead?: number;
  template: Template;
  note?: string;
}

/** An image an enrolment with `skipUnusable` left out, and why. */
export interface ImageRefusal {
  label: string;
  code: ProbityErrorCode;
  message: string;
}

/** What is wrong with one image rather than with the request: an enrolment with `skipUnusable` goes on without it. */
export const IMAGE_REFUSALS: ReadonlySet<ProbityErrorCode> = new Set<ProbityErrorCode>([
  'no_face', 'several_faces', 'face_quality_too_low', 'not_an_image', 'unsupported_image_format', 'corrupt_image',
  'too_many_pixels', 'image_too_small', 'empty_input', 'input_too_large',
]);

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * From image bytes to the one face a request is about, and its template. `subject` (enrol,
 * verify): the person in the photograph, one face clearly dominant or the image is refused
 * naming its faces (see `subjectFace`, the same rule `compareImages` uses). `best` (identify's
 * one face, the testing interface): the best by quality, then detection confidence, then size
 * (see `rankFaces`). Either way a note says so when the image held other faces.
 */
export async function extractFace(
  engine: FaceEngine,
  input: ImageInput,
  options: { minQuality: QualityLevel; choose: 'subject' | 'best' },
): Promise<ExtractedFace> {
  const image = await decodeImage(input.bytes, input.label);
  const faces = await engine.analyse(image);
  let chosen: ProbeFace;
  if (options.choose === 'subject') {
    chosen = subjectOf(faces, image, input.label, options.minQuality);
  } else {
    const face = faces[0];
    if (!face) throw new ProbityError('no_face', `${input.label}: no face found`);
    if (!qualityAtLeast(face.quality.level, options.minQuality)) {
      throw new ProbityError(
        'face_quality_too_low',
        `${input.label}: the face is of ${face.quality.level} quality, below the ${options.minQuality} required (${face.quality.reasons.join('; ')})`,
      );
    }
    const note = faces.length > 1 ? `${input.label} holds ${faces.length} faces; the best was used (quality, then detection confidence, then size)` : undefined;
    chosen = { face, facesInImage: faces.length, otherFaces: faces.length - 1, ...(note ? { note } : {}) };
  }
  const template = await engine.template(chosen.face);
  return { label: input.label, sha256: sha256(input.bytes), template, ...chosen };
}

/** An aligned face crop as PNG: what a reviewer looks at. */
export function facePng(aligned: RgbImage): Promise<Buffer> {
  return sharp(Buffer.from(aligned.data), { raw: { width: aligned.width, height: aligned.height, channels: 3 } }).png().toBuffer();
}

/** What a response may say about a face: where it is and how good it is, never its template. */
export function describeFace(f: ExtractedFace): FaceUsed {
  return describeProbe(f.label, f);
}
