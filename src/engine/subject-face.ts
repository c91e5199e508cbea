import { ProbityError } from '../errors.js';
import type { Box } from './geometry.js';
import type { QualityLevel } from './quality.js';

/**
 * The person in the photograph: which of the faces an image holds a single-subject operation
 * (enrol, verify, compare) is about, or a refusal when no face clearly is. One rule for the API,
 * the CLI, the library and the console; it reads only what every detector gives (a box and the
 * quality grade), so it holds whichever detector the engine runs.
 *
 * Each face gets a prominence:
 *
 *   size (square root of the box's area, pixels)
 *   x (1 - CENTRE_WEIGHT x distance of the box's centre from the image's centre, in half-diagonals)
 *   x QUALITY_WEIGHT[quality grade]
 *   x EDGE_WEIGHT when the box touches or crosses the image's border (a face cut off by the frame)
 *
 * The most prominent face is the person in the photograph when it is at least `LEAD` times as
 * prominent as every other face. Otherwise the photograph is refused, naming every face's box.
 *
 * The margins, and why. Two faces of the same size and grade side by side (equally far from the
 * centre) are always refused. Size alone decides at 1.5 times (a background face two thirds the
 * height of the subject's). Position alone cannot decide unless the other face is cut off by the
 * frame as well: an equal face in a corner scores 0.5 (2x), one halfway out 0.75 (1.33x, refused).
 * Quality alone cannot decide: high against low is 1/0.7 = 1.43x, under the lead. So a face that
 * a person glancing at the photograph would not call "the one in front" never wins on one weak
 * signal. On a stride sample of 1,655 LFW photographs (183 with several faces; UltraFace with its
 * second look), these margins took a face in 166 of the 183, always the one LFW's crop centres
 * on (its labelled person), and refused 17, most of them two people side by side. With YuNet n,
 * 308 of the same photographs hold several faces; the rule takes 293, all the labelled person.
 *
 * Against an attacker: the rule only ever picks one face, never a second from the same image, and
 * never falls back to another face when the chosen one is of too low a quality (the photograph is
 * refused instead), so a face in the background can neither be enrolled beside the subject nor in
 * place of a blurred one. A client slipping a second person in at the subject's size is refused.
 */
export const LEAD = 1.5;
export const CENTRE_WEIGHT = 0.5;
export const EDGE_WEIGHT = 0.7;
export const QUALITY_WEIGHT: Record<QualityLevel, number> = { high: 1, medium: 0.9, low: 0.7 };
/** A box this close to the border (a share of the image's longer side) touches it. */
const EDGE_MARGIN = 0.01;

export interface SubjectFace<T> {
  face: T;
  /** Index of `face` in the list given. */
  index: number;
  /** How many other faces the image holds. */
  otherFaces: number;
  /** The chosen face's prominence over the next face's; absent when it is the only face. */
  lead?: number;
}

export function prominence(box: Box, level: QualityLevel, width: number, height: number): number {
  const halfDiagonal = Math.hypot(width, height) / 2;
  const offCentre = Math.min(1, Math.hypot(box.x + box.width / 2 - width / 2, box.y + box.height / 2 - height / 2) / halfDiagonal);
  const m = EDGE_MARGIN * Math.max(width, height);
  const cut = box.x <= m || box.y <= m || box.x + box.width >= width - m || box.y + box.height >= height - m;
  return Math.sqrt(Math.max(0, box.width) * Math.max(0, box.height)) * (1 - CENTRE_WEIGHT * offCentre) * QUALITY_WEIGHT[level] * (cut ? EDGE_WEIGHT : 1);
}

export function describeBox(b: Box): string {
  return `${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}x${Math.round(b.height)}`;
}

/**
 * The face the photograph is about (see the rule above), or `undefined` when it holds none.
 * Throws `several_faces`, naming each face's box and prominence, when no face leads by `LEAD`.
 */
export function subjectFace<T extends { box: Box; quality: { level: QualityLevel } }>(
  faces: readonly T[], image: { width: number; height: number }, label: string,
): SubjectFace<T> | undefined {
  if (faces.length === 0) return undefined;
  if (faces.length === 1) return { face: faces[0]!, index: 0, otherFaces: 0 };
  const ranked = faces
    .map((face, index) => ({ face, index, p: prominence(face.box, face.quality.level, image.width, image.height) }))
    .sort((a, b) => b.p - a.p);
  const [first, second] = [ranked[0]!, ranked[1]!];
  // Capped so that a degenerate (zero-area) box still gives a number an answer can carry.
  const lead = Math.min(100, first.p / Math.max(second.p, 1e-9));
  if (lead >= LEAD) return { face: first.face, index: first.index, otherFaces: faces.length - 1, lead: round2(lead) };
  const listed = ranked.slice(0, 6).map((r) => `${describeBox(r.face.box)} (prominence ${Math.round(r.p)})`).join(', ');
  throw new ProbityError(
    'several_faces',
    `${label}: ${faces.length} faces and none clearly the person in the photograph: faces at ${listed}${faces.length > 6 ? ', …' : ''}; ` +
      `one must be at least ${LEAD} times as prominent as every other (size, nearness to the centre, quality), and the first is ${round2(lead)} times the next. Crop the photograph to the one person`,
  );
}

/** The sentence an answer carries when the image held other faces: which was used, and why. */
export function subjectNote(label: string, chosen: SubjectFace<{ box: Box }>): string | undefined {
  if (chosen.otherFaces === 0) return undefined;
  return `${label} holds ${chosen.otherFaces + 1} faces; the face at ${describeBox(chosen.face.box)} was used: it is ${chosen.lead} times as prominent as the next (size, nearness to the centre, quality; ${LEAD} needed)`;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
