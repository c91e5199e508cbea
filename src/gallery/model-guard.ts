import { ProbityError } from '../errors.js';
import type { Queryable } from './db.js';

/**
 * A gallery's templates are compared only with templates of the model that made them. Two models
 * may give vectors of the same length whose scores mean nothing to each other: searching a
 * gallery enrolled with one model by a probe from another would answer with noise.
 */
export async function requireGalleryModel(db: Queryable, galleryId: string, model: string): Promise<void> {
  const other = await db.one<{ model: string }>(`SELECT model FROM templates WHERE gallery_id = $1 AND model <> $2 LIMIT 1`, [galleryId, model]);
  if (other) {
    throw new ProbityError(
      'model_mismatch',
      `gallery ${galleryId} holds templates made by model ${other.model}; this service runs model ${model}, whose scores cannot be compared with them: serve ${other.model} for this gallery, or enrol its subjects again under ${model}`,
    );
  }
}
