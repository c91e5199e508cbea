import type { Box } from './geometry.js';
import type { RgbImage } from './image.js';
import type { FaceQuality } from './quality.js';
import type { FaceDetector, RawDetection } from './types.js';

/**
 * A candidate is a face only if the detector, shown it again re-framed at the scale it is most
 * reliable at (the box's longer side half the input's height, centred, with its surroundings),
 * still scores it at least this. On the face-api demo photographs every true face scored at
 * least 0.999 and the torso, arm, shoulder, elbow, chin and chest 0.06 to 0.71; the knee (0.815)
 * passes it and is stopped by the landmark check. 0.9 cost more recall on the face-mask set's
 * small and masked faces for no gain there (see the detector's card, src/engine/models/ultraface.md).
 */
export const DEFAULT_SECOND_LOOK_THRESHOLD = 0.75;

/**
 * Share of a candidate's area inside a higher-scoring face above which the candidate is the same
 * face found twice (half a face, a chin), not another face: two faces cannot overlap that much.
 */
const CONTAINED_SHARE = 0.6;

/**
 * The landmark model's predictions on a face and on its mirror image agree (mean distance per
 * point, in crop sides). On a sample of 300 LFW faces the largest was 0.04 (median 0.008); a real
 * face bowed steeply in the demo photographs reaches 0.087. Things that are not faces but pass
 * the second look disagree more: concentric rings 0.12 (scored 1.0 on both looks), a shoulder
 * filling the frame 0.079, skin-toned blobs 0.062. So a candidate the second look was sure of
 * (0.99 or more) may disagree up to 0.1; one it merely passed, only up to 0.05.
 */
export const MAX_MIRROR_DISAGREEMENT = 0.1;
export const MAX_MIRROR_DISAGREEMENT_UNSURE = 0.05;
const SURE_SECOND_LOOK = 0.99;

export function landmarksAgree(mirrorDisagreement: number, secondLookScore: number): boolean {
  return mirrorDisagreement <= (secondLookScore >= SURE_SECOND_LOOK ? MAX_MIRROR_DISAGREEMENT : MAX_MIRROR_DISAGREEMENT_UNSURE);
}

export interface ConfirmedDetection extends RawDetection {
  secondLookScore?: number;
}

function insideShare(inner: Box, outer: Box): number {
  const w = Math.min(inner.x + inner.width, outer.x + outer.width) - Math.max(inner.x, outer.x);
  const h = Math.min(inner.y + inner.height, outer.y + outer.height) - Math.max(inner.y, outer.y);
  return w > 0 && h > 0 ? (w * h) / (inner.width * inner.height) : 0;
}

export interface SecondLookVerdict {
  detection: RawDetection;
  /** Not looked at when the candidate was already dropped as a face found twice. */
  secondLookScore?: number;
  verdict: 'face' | 'found-twice' | 'not-a-face';
}

/**
 * Every detection's verdict, surest first: a candidate lying mostly inside a confirmed face with
 * a higher score is that face found twice; any other gets a second look and is a face if it
 * reaches `threshold`. A threshold of 0 turns both off.
 */
export async function secondLooks(detector: FaceDetector, image: RgbImage, detections: readonly RawDetection[], threshold: number): Promise<SecondLookVerdict[]> {
  const order = [...detections].sort((a, b) => b.score - a.score);
  if (threshold <= 0) return order.map((detection) => ({ detection, verdict: 'face' }));
  const faces: Box[] = [];
  const out: SecondLookVerdict[] = [];
  for (const d of order) {
    if (faces.some((f) => insideShare(d.box, f) >= CONTAINED_SHARE)) {
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
 * knee over a high-quality face on the documentation's own sample photograph.
 */
export function rankFaces<T extends { box: Box; score: number; secondLookScore?: number; quality: FaceQuality }>(faces: T[]): T[] {
  const sureness = (f: T) => Math.round(100 * Math.min(f.score, f.secondLookScore ?? f.score)) / 100;
  return faces.sort((a, b) =>
    LEVEL_RANK[b.quality.level] - LEVEL_RANK[a.quality.level]
    || sureness(b) - sureness(a)
    || b.box.width * b.box.height - a.box.width * a.box.height);
}

