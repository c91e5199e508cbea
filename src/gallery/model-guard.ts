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

/**
 * A gallery's templates are compared only with templates of the model, and the kind (single or
 * flip-averaged), that made them. Two models may give vectors of the same length whose scores mean
 * nothing to each other, and the two kinds of one model are calibrated by different tables: a
 * probe of another kind would be answered with a threshold measured on something else.
 * `model` is the engine's `templateKind`.
 */
export async function requireGalleryModel(db: Queryable, galleryId: string, model: string): Promise<void> {
  const other = await db.one<{ model: string }>(`SELECT model FROM templates WHERE gallery_id = $1 AND model <> $2 LIMIT 1`, [galleryId, model]);
  if (other) {
    throw new ProbityError(
      'model_mismatch',
      `gallery ${galleryId} holds templates made by ${described(other.model)}; this service runs ${described(model)}, whose scores cannot be compared with them: ${remedy(other.model, model)}, or enrol its subjects again under ${described(model)}`,
    );
  }
}
