import type { FastifyReply } from 'fastify';
import { ProbityError } from '../errors.js';

/**
 * One name for photographs on every route: `image`. Verify and identify take one photograph;
 * enrolment takes one or a list. Enrolment's former `images` is still accepted, and an answer to a
 * request that used it says so in two places: a `Deprecation` header (RFC 9745) and a `notes` entry.
 */
export const PHOTO_FIELD = 'image';
export const DEPRECATED_PHOTO_FIELD = 'images';

/** When `images` was deprecated (RFC 9745: a structured-field date, seconds since the epoch). */
export const PHOTO_FIELD_DEPRECATED_AT = Date.UTC(2026, 11, 7) / 1000;

export const DEPRECATED_PHOTO_FIELD_NOTE = 'the field "images" is deprecated: send the photographs as "image" (one, or a list of up to 10); "images" will be removed in a future major version';

export interface EnrolmentPhotos {
  photos: string[];
  /** The name the request used, so the answer can tell a client still on the deprecated one. */
  field: typeof PHOTO_FIELD | typeof DEPRECATED_PHOTO_FIELD;
}

/** The photographs of an enrolment request, from `image` or the deprecated `images`, never both. */
export function enrolmentPhotos(body: { image?: string | string[]; images?: string[] }): EnrolmentPhotos {
  if (body.image !== undefined && body.images !== undefined) {
    throw new ProbityError('invalid_request', 'body.image and body.images are the same field under two names: send the photographs once, as "image" ("images" is deprecated)');
  }
  if (body.image !== undefined) return { photos: Array.isArray(body.image) ? body.image : [body.image], field: PHOTO_FIELD };
  if (body.images !== undefined) return { photos: body.images, field: DEPRECATED_PHOTO_FIELD };
  throw new ProbityError('invalid_request', 'body.image is required: one photograph, or a list of up to 10');
}

/**
 * Verify and identify never took `images`; a request that sends it (alone or beside `image`) is told
 * which name these routes use rather than only that the field is unknown.
 */
export function refuseListOnSinglePhotoRoute(body: Record<string, unknown>): void {
  if (!(DEPRECATED_PHOTO_FIELD in body)) return;
  throw new ProbityError('invalid_request', PHOTO_FIELD in body
    ? 'body.image and body.images both given: this route takes one photograph, as "image" only'
    : 'body.images is not a field of this request: this route takes one photograph, as "image"');
}

/**
 * The deprecation signal: the header on every answer to the request (a refusal too: the error
 * shape stays as documented), and the note the route adds to a successful answer's `notes`.
 */
export function signalDeprecatedPhotoField(reply: FastifyReply): string {
  void reply.header('deprecation', `@${PHOTO_FIELD_DEPRECATED_AT}`);
  return DEPRECATED_PHOTO_FIELD_NOTE;
}
