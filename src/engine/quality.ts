import type { Point } from './geometry.js';
import type { RgbImage } from './image.js';

export type QualityLevel = 'low' | 'medium' | 'high';

export interface QualityMeasures {
  /** Distance between the eye centres in source pixels. */
  interEyePx: number;
  /** Estimated head turn, degrees, from the landmarks (0 = frontal). */
  yawDeg: number;
  /** Estimated nod, degrees (positive = looking down). */
  pitchDeg: number;
  /** In-plane tilt of the eye line, degrees; alignment removes it, so it is reported only. */
  rollDeg: number;
  /** Variance of the Laplacian of the aligned 112x112 crop: low means blurred or featureless. */
  sharpness: number;
  detectionScore: number;
}

export interface FaceQuality {
  level: QualityLevel;
  /** Why the level is not 'high', one sentence each; empty when it is. */
  reasons: string[];
  measures: QualityMeasures;
}

/** Each measure's bounds: at or beyond `low` the face is low quality, beyond `medium` medium. */
export interface QualityThresholds {
  interEyePx: { low: number; medium: number };
  absYawDeg: { low: number; medium: number };
  absPitchDeg: { low: number; medium: number };
  sharpness: { low: number; medium: number };
  detectionScore: { low: number; medium: number };
}

export const DEFAULT_QUALITY_THRESHOLDS: QualityThresholds = {
  // The recognition crop puts 35 px between the eyes; far fewer source pixels means upsampling.
  interEyePx: { low: 12, medium: 24 },
  absYawDeg: { low: 45, medium: 25 },
  absPitchDeg: { low: 40, medium: 25 },
  // LFW's 250 px news photographs: 1% of faces under 25, 5% under 42.
  sharpness: { low: 15, medium: 40 },
  // YuNet's scores: clear frontal faces 0.9 to 0.95 (it seldom gives more); the second look needs 0.4.
  detectionScore: { low: 0.6, medium: 0.8 },
};

const RAD = 180 / Math.PI;

/**
 * Head pose from the five landmarks, in the frame where the eye line is level. Turning the head
 * moves the nose tip sideways between the eyes, nodding moves it up or down between eyes and
 * mouth; the nose tip stands about 0.55 eye-distances in front of the eye plane, so
 * tan(angle) = offset / 0.55. On LFW's mostly frontal portraits this gives a median of 0 degrees
 * and 90% of faces within about 30 degrees. An estimate for gating quality, not a measurement.
 */
export function estimatePose(five: Point[]): { yawDeg: number; pitchDeg: number; rollDeg: number } {
  const [le, re, nose, lm, rm] = five as [Point, Point, Point, Point, Point];
  const angle = Math.atan2(re[1] - le[1], re[0] - le[0]);
  const cos = Math.cos(-angle), sin = Math.sin(-angle);
  const level = (p: Point): Point => [cos * p[0] - sin * p[1], sin * p[0] + cos * p[1]];
  const [l, r, n] = [level(le), level(re), level(nose)];
  const m = level([(lm[0] + rm[0]) / 2, (lm[1] + rm[1]) / 2]);
  const eyeY = (l[1] + r[1]) / 2;
  const across = (n[0] - l[0]) / Math.max(1e-6, r[0] - l[0]) - 0.5;
  const down = (n[1] - eyeY) / Math.max(1e-6, m[1] - eyeY) - 0.5;
  return {
    yawDeg: Math.atan(across / 0.55) * RAD,
    pitchDeg: Math.atan(down / 0.55) * RAD,
    rollDeg: angle * RAD,
  };
}

/** Variance of the 4-neighbour Laplacian of the crop's luminance. */
export function laplacianVariance(crop: RgbImage): number {
  const { width, height, data } = crop;
  const lum = new Float32Array(width * height);
  for (let i = 0; i < lum.length; i++) lum[i] = 0.299 * data[3 * i]! + 0.587 * data[3 * i + 1]! + 0.114 * data[3 * i + 2]!;
  let sum = 0, sumSq = 0, n = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const l = lum[i - 1]! + lum[i + 1]! + lum[i - width]! + lum[i + width]! - 4 * lum[i]!;
      sum += l; sumSq += l * l; n++;
    }
  }
  const m = sum / n;
  return sumSq / n - m * m;
}

const LEVELS: QualityLevel[] = ['low', 'medium', 'high'];

export function assessQuality(m: QualityMeasures, t: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS): FaceQuality {
  let worst = 2;
  const reasons: string[] = [];
  const grade = (level: number, reason: string) => {
    if (level < 2) reasons.push(reason);
    worst = Math.min(worst, level);
  };
  const below = (v: number, b: { low: number; medium: number }) => (v < b.low ? 0 : v < b.medium ? 1 : 2);
  const above = (v: number, b: { low: number; medium: number }) => (v >= b.low ? 0 : v >= b.medium ? 1 : 2);

  const r1 = (v: number) => Math.round(v * 10) / 10;
  grade(below(m.interEyePx, t.interEyePx), `face too small: ${r1(m.interEyePx)} px between the eyes (high quality needs ${t.interEyePx.medium})`);
  grade(above(Math.abs(m.yawDeg), t.absYawDeg), `head turned about ${Math.round(Math.abs(m.yawDeg))} degrees (high quality needs under ${t.absYawDeg.medium})`);
  grade(above(Math.abs(m.pitchDeg), t.absPitchDeg), `head tilted up or down about ${Math.round(Math.abs(m.pitchDeg))} degrees (high quality needs under ${t.absPitchDeg.medium})`);
  grade(below(m.sharpness, t.sharpness), `blurred or low-contrast face: sharpness ${Math.round(m.sharpness)} (high quality needs ${t.sharpness.medium})`);
  grade(below(m.detectionScore, t.detectionScore), `uncertain detection: score ${m.detectionScore.toFixed(2)} (high quality needs ${t.detectionScore.medium})`);
  return { level: LEVELS[worst]!, reasons, measures: m };
}

export function qualityAtLeast(q: QualityLevel, min: QualityLevel): boolean {
  return LEVELS.indexOf(q) >= LEVELS.indexOf(min);
}
