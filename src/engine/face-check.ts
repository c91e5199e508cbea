import type { Box } from './geometry.js';
import type { RgbImage } from './image.js';
import type { FaceQuality } from './quality.js';
import type { FaceDetector, RawDetection } from './types.js';

/**
 * A candidate is a face only if the detector, shown it again re-framed (its longer side half of a
 * 160 px view, centred, with its surroundings), still scores it at least this. Chosen on the
 * face-api demo photographs and the no-face textures, where every true face scored 0.83 or more
 * on the second look and everything else at most THE_HIGHEST_FALSE; what it costs in recall on the
 * face-mask set is in src/engine/models/yunet.md.
 */
export const DEFAULT_SECOND_LOOK_THRESHOLD = 0.4;

/**
 * Share of the smaller box's area inside the other above which two candidates are one face found
 * twice (half a face, a chin, or the face with its hair): two faces cannot overlap that much.
 */
const CONTAINED_SHARE = 0.6;

export interface ConfirmedDetection extends RawDetection {
  secondLookScore?: number;
}

/** Share of the smaller box's area that lies inside the other. */
function overlapOfSmaller(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? (w * h) / Math.min(a.width * a.height, b.width * b.height) : 0;
}

export interface SecondLookVerdict {
  detection: RawDetection;
  /** Not looked at when the candidate was already dropped as a face found twice. */
  secondLookScore?: number;
  verdict: 'face' | 'found-twice' | 'not-a-face';
}

/**
 * Every detection's verdict, surest first: a candidate that mostly covers, or lies mostly inside,
 * a confirmed face with a higher score is that face found twice; any other gets a second look and is a face if it
 * reaches `threshold`. A threshold of 0 turns both off.
 */
export async function secondLooks(detector: FaceDetector, image: RgbImage, detections: readonly RawDetection[], threshold: number): Promise<SecondLookVerdict[]> {
  const order = [...detections].sort((a, b) => b.score - a.score);
  if (threshold <= 0) return order.map((detection) => ({ detection, verdict: 'face' }));
  const faces: Box[] = [];
  const out: SecondLookVerdict[] = [];
  for (const d of order) {
    if (faces.some((f) => overlapOfSmaller(d.box, f) >= CONTAINED_SHARE)) {
      out.push({ detection: d, verdict: 'found-twice' });
      continue;
    }
    const secondLookScore = await detector.secondLook(image, d.box);
    const face = secondLookScore >= threshold;
    if (face) faces.push(d.box);
    out.push({ detection: d, secondLookScore, verdict: face ? 'face' : 'not-a-face' });
  }
  return out;
}

/** The detections that are faces (see `secondLooks`), each with its second-look score. */
export async function confirmFaces(detector: FaceDetector, image: RgbImage, detections: readonly RawDetection[], threshold: number): Promise<ConfirmedDetection[]> {
  return (await secondLooks(detector, image, detections, threshold))
    .filter((v) => v.verdict === 'face')
    .map((v) => (v.secondLookScore === undefined ? v.detection : { ...v.detection, secondLookScore: v.secondLookScore }));
}

const LEVEL_RANK: Record<FaceQuality['level'], number> = { high: 2, medium: 1, low: 0 };

/**
 * Order faces so the one a single-subject operation (compare, enrol, verify, identify) should
 * use comes first: the best quality grade, then the surer detection (the lower of the detector's
 * and the second look's scores, to two decimals), then the larger face. Area alone once chose a
 * knee over a high-quality face on the README's own sample photograph.
 */
export function rankFaces<T extends { box: Box; score: number; secondLookScore?: number; quality: FaceQuality }>(faces: T[]): T[] {
  const sureness = (f: T) => Math.round(100 * Math.min(f.score, f.secondLookScore ?? f.score)) / 100;
  return faces.sort((a, b) =>
    LEVEL_RANK[b.quality.level] - LEVEL_RANK[a.quality.level]
    || sureness(b) - sureness(a)
    || b.box.width * b.box.height - a.box.width * a.box.height);
}

