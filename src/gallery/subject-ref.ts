import { ProbityError } from '../errors.js';

/** The longest subject reference, in characters; the router accepts longer path segments so the schema can say why. */
export const SUBJECT_REF_MAX = 128;

/**
 * A subject reference is one URL path segment that must come back unchanged: letters, digits
 * and . _ : @ - only, never "." or ".." (a client or proxy would resolve those away, so the
 * subject could be created and never read or erased again).
 */
export const SUBJECT_REF_PATTERN = `^(?!\\.{1,2}$)[A-Za-z0-9._:@-]{1,${SUBJECT_REF_MAX}}$`;
const pattern = new RegExp(SUBJECT_REF_PATTERN);

export function checkSubjectRef(ref: string): void {
  if (!pattern.test(ref)) {
    throw new ProbityError('invalid_request', `subject "${ref.slice(0, 40)}${ref.length > 40 ? '...' : ''}" is not a valid reference: 1 to ${SUBJECT_REF_MAX} letters, digits or . _ : @ -, and not "." or ".."`);
  }
}
