import type { AnalysedFace, FaceEngine, Template } from '../engine/engine.js';
import { decodeImage } from '../engine/image.js';
import { qualityAtLeast, type QualityLevel } from '../engine/quality.js';
import { ProbityError } from '../errors.js';
import { sha256, type ImageInput } from './face-input.js';

/**
 * Which faces of the image an identification searches: `one`, the best face (by quality, then
 * detection confidence, then size; see `rankFaces`), or `all`, every face, each on its own.
 */
export const FACE_SELECTIONS = ['one', 'all'] as const;
export type FaceSelection = (typeof FACE_SELECTIONS)[number];

/**
 * At most this many faces of one image are searched by default. Each face is a full search, so
 * without a cap one request could stand for any number of searches and the per-key rate limit
 * would bound nothing; the faces beyond it are reported, not searched.
 */
export const DEFAULT_MAX_FACES_PER_IDENTIFY = 10;

/** One face of a frame: searched (it has a template), or why not. */
export type FrameFace =
  | { face: AnalysedFace; template: Template; skipped?: undefined }
  | { face: AnalysedFace; template?: undefined; skipped: 'quality_too_low' | 'not_searched' };

export interface Frame {
  label: string;
  sha256: string;
  facesInImage: number;
  /** Every face found, best first (the engine's order); at most `maxFaces` of them with a template. */
  faces: FrameFace[];
}

/**
 * Every face in the image, each judged on its own: below `minQuality` it is not searched (as a
 * single-face identify refuses such a face), and past the first `maxFaces` of enough quality it
 * is not searched either. An image with no face at all is refused, as it is for one face.
 */
export async function extractFrame(engine: FaceEngine, input: ImageInput, options: { minQuality: QualityLevel; maxFaces: number }): Promise<Frame> {
  if (!Number.isInteger(options.maxFaces) || options.maxFaces < 1) {
    throw new ProbityError('invalid_argument', `maxFacesPerIdentify must be a whole number of at least 1, not ${options.maxFaces}`);
  }
  const image = await decodeImage(input.bytes, input.label);
  const analysed = await engine.analyse(image);
  if (analysed.length === 0) throw new ProbityError('no_face', `${input.label}: no face found`);
  const faces: FrameFace[] = [];
  let searched = 0;
  for (const face of analysed) {
    if (!qualityAtLeast(face.quality.level, options.minQuality)) faces.push({ face, skipped: 'quality_too_low' });
    else if (searched >= options.maxFaces) faces.push({ face, skipped: 'not_searched' });
    else {
      searched++;
      faces.push({ face, template: await engine.template(face) });
    }
  }
  return { label: input.label, sha256: sha256(input.bytes), facesInImage: analysed.length, faces };
}

/** What one face's search came to, as the answer and the audit entry count it. */
export type FaceOutcome = 'candidates' | 'no_match' | 'review_required' | 'quality_too_low' | 'not_searched';

/**
 * The audit entry's account of a frame: how many faces were found and searched and what each
 * came to, in counts only (never a box, a template or a name).
 */
export function frameAudit(facesInImage: number, outcomes: { outcome: FaceOutcome; aboveThreshold?: number; released: number; reviewCase?: string }[]) {
  const count = (o: FaceOutcome) => outcomes.filter((f) => f.outcome === o).length;
  return {
    facesInImage,
    facesSearched: outcomes.filter((f) => f.outcome !== 'quality_too_low' && f.outcome !== 'not_searched').length,
    byOutcome: Object.fromEntries((['candidates', 'no_match', 'review_required', 'quality_too_low', 'not_searched'] as const).map((o) => [o, count(o)]).filter(([, n]) => n)),
    perFace: outcomes.map((f) => ({ outcome: f.outcome, ...(f.aboveThreshold === undefined ? {} : { aboveThreshold: f.aboveThreshold }), released: f.released, ...(f.reviewCase ? { reviewCase: f.reviewCase } : {}) })),
  };
}

/** One face of a frame once searched (its own outcome) or passed over (why). */
export interface FrameSearch<C, R> {
  face: AnalysedFace;
  result?: { outcome: 'candidates' | 'no_match' | 'review_required'; summary: string; candidates: C[]; reviewView: R };
  skipped?: 'quality_too_low' | 'not_searched';
}

/**
 * The part of a `faces: "all"` answer that is about the faces: each one's box, quality and
 * outcome, best first, a summary, and notes on what was not searched and what the FPIR means here.
 */
export function frameAnswer<C, R>(frame: Frame, searched: FrameSearch<C, R>[], limits: { minQuality: QualityLevel; maxFaces: number; fpir: number; fpirPromised: boolean }) {
  const results = searched.flatMap((s) => (s.result ? [s.result] : []));
  const notSearched = searched.filter((s) => s.skipped === 'not_searched').length;
  const notes: string[] = [];
  if (notSearched) notes.push(`${notSearched} face(s) of enough quality were not searched: at most ${limits.maxFaces} faces are searched per request (the best first); crop the image to search the others`);
  // Where the calibration cannot promise the target (its own note says so), nothing here may say it holds.
  if (results.length > 1 && limits.fpirPromised) notes.push(`the FPIR target (${limits.fpir}) holds for each face's search; across ${results.length} faces the chance of at least one false candidate is up to ${results.length} times that`);
  if (results.length > 1 && !limits.fpirPromised) notes.push(`${results.length} faces were searched, each at a threshold that cannot promise the FPIR target (${limits.fpir}); across them the chance of at least one false candidate is larger still`);
  const tally = (['candidates', 'review_required', 'no_match'] as const).map((o) => `${results.filter((r) => r.outcome === o).length} ${o}`).join(', ');
  return {
    facesInImage: frame.facesInImage,
    facesSearched: results.length,
    summary: `${frame.facesInImage} face(s) found, ${results.length} searched: ${tally}${searched.length > results.length ? `; ${searched.length - results.length} not searched` : ''}`,
    faces: searched.map((s) => ({
      box: s.face.box, quality: s.face.quality,
      ...(s.result
        ? { outcome: s.result.outcome as FaceOutcome, summary: s.result.summary, candidates: s.result.candidates, review: s.result.reviewView as R | { state: 'not_required' } }
        : {
          outcome: s.skipped! as FaceOutcome, candidates: [] as C[], review: { state: 'not_required' as const },
          summary: s.skipped === 'quality_too_low'
            ? `the face is of ${s.face.quality.level} quality, below the ${limits.minQuality} required (${s.face.quality.reasons.join('; ')}); it was not searched`
            : `not searched: the request's limit of ${limits.maxFaces} faces was reached`,
        }),
    })),
    notes,
  };
}
