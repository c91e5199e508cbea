import { ProbityError } from '../errors.js';
import { SINGLE_TEMPLATE_SUFFIX as SINGLE } from '../engine/engine.js';
import type { Queryable } from './db.js';

/** A stored template kind in words: `m` is model m flip-averaged, `m/single` its single templates. */
function described(kind: string): string {
  return kind.endsWith(SINGLE) ? `model ${kind.slice(0, -SINGLE.length)} (single templates)` : `model ${kind} (flip-averaged templates)`;
}

/** What to do about it: the same model in the other kind is a flag away; another model is not. */
function remedy(stored: string, served: string): string {
  const base = (k: string) => (k.endsWith(SINGLE) ? k.slice(0, -SINGLE.length) : k);
  if (base(stored) === base(served)) return stored.endsWith(SINGLE) ? 'serve without --flip for this gallery' : 'serve with --flip for this gallery';
  return `serve ${base(stored)} for this gallery`;
}

/** The one way out for a gallery whose templates no probe of this service can be compared with. */
const REENROL = 'create a new gallery, record its subjects\' consents there and enrol them again from their photographs (`probity import --gallery NEW --consents consents.csv PHOTOS/`, or POST /v1/galleries/NEW/subjects/REF/consents then .../templates), then delete this gallery (DELETE /v1/galleries/ID)';

/**
 * A gallery's templates are compared only with templates of the model, the kind (single or
 * flip-averaged) and the pipeline that made them. Two models may give vectors of the same length
 * whose scores mean nothing to each other; the two kinds of one model are calibrated by different
 * tables; and a template made on another pipeline (other detector, landmarks or alignment) is a
 * different vector of the same face, scored against thresholds measured on today's pipeline only.
 * A template stored before templates recorded their pipeline (schema 1, pipeline NULL) was made
 * on an earlier pipeline than any that records it, so it is refused the same way.
 * `model` is the engine's `templateKind`, `pipeline` its PIPELINE_VERSION.
 */
export async function requireGalleryModel(db: Queryable, galleryId: string, model: string, pipeline: number): Promise<void> {
  const other = await db.one<{ model: string; pipeline: number | null }>(
    `SELECT model, pipeline FROM templates WHERE gallery_id = $1 AND (model <> $2 OR pipeline IS NULL OR pipeline <> $3) LIMIT 1`, [galleryId, model, pipeline],
  );
  if (!other) return;
  if (other.pipeline !== null && Number(other.pipeline) === pipeline) {
    throw new ProbityError(
      'model_mismatch',
      `gallery ${galleryId} holds templates made by ${described(other.model)}; this service runs ${described(model)}, whose scores cannot be compared with them: ${remedy(other.model, model)}, or enrol its subjects again under ${described(model)}`,
    );
  }
  // Another pipeline: no flag or model serves these templates, whatever their model; only re-enrolment does.
  const made = other.pipeline === null ? 'on an earlier pipeline than this one (stored before templates recorded their pipeline)' : `on pipeline ${other.pipeline}`;
  const by = other.model === model ? '' : ` by ${described(other.model)}`;
  throw new ProbityError(
    'model_mismatch',
    `gallery ${galleryId} holds templates made${by} ${made}; this service runs pipeline ${pipeline}, whose templates and thresholds cannot be compared with them: re-enrol: ${REENROL}`,
  );
}
