import type { FastifyError } from 'fastify';
import { isProbityError, type ProbityErrorCode } from '../errors.js';
import { schemaMessage, schemaProblems, type SchemaProblem } from './schema-errors.js';

/** The HTTP status of each code the service answers with; the table of codes in docs/http-api.md is checked against it. */
export const ERROR_STATUS: Partial<Record<ProbityErrorCode, number>> = {
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  // A gallery enrolled with one model, asked of a service running another.
  model_mismatch: 409,
  idempotency_key_reused: 422,
  rate_limited: 429,
  malformed_json: 400,
  invalid_request: 400,
  invalid_argument: 400,
  unsupported_media_type: 415,
  body_too_large: 413,
  callback_url_refused: 400,
  malformed_multipart: 400,
  uri_too_long: 414,
  headers_too_large: 431,
  input_too_large: 413,
  empty_input: 422,
  not_an_image: 422,
  unsupported_image_format: 422,
  corrupt_image: 422,
  too_many_pixels: 422,
  image_too_small: 422,
  no_face: 422,
  several_faces: 422,
  face_quality_too_low: 422,
  purpose_not_approved: 403,
  purpose_mismatch: 403,
  policy_refused: 403,
  legal_authority_required: 403,
  legal_authority_expired: 403,
  attribute_inference_refused: 403,
  consent_required: 403,
  purpose_not_declared: 403,
  purpose_not_covered: 403,
  // 422, not 403: the caller may do this; the image presented is what was refused.
  presentation_attack_suspected: 422,
  // 422 as well: the caller may enrol; this photograph is not of the subject.
  subject_mismatch: 422,
  key_unavailable: 503,
  sign_in_unavailable: 503,
};

/**
 * What is wrong with a JSON body. Fastify's parser gives one error for both faults it refuses:
 * JSON that does not parse, and valid JSON with a key that could pollute prototypes.
 */
function jsonProblem(parserMessage: string): string {
  return `the body could not be read as JSON: it is not valid JSON, or it uses a key refused as a guard against prototype pollution ("__proto__", or "prototype" inside "constructor") (${parserMessage})`;
}

export interface ErrorAnswer {
  status: number;
  body: { error: { code: string; message: string; rule?: string; citation?: string; details?: SchemaProblem[] } };
}

/**
 * Every failure as a status, a stable code and one sentence. Fastify's own errors (bad JSON, wrong
 * content type, too large, failed schema) are translated; anything unrecognised is a 500 whose
 * message says nothing about the request.
 */
export function errorAnswer(e: unknown): ErrorAnswer {
  const answer = (status: number, code: string, message: string): ErrorAnswer => ({ status, body: { error: { code, message } } });
  if (isProbityError(e)) {
    const a = answer(ERROR_STATUS[e.code] ?? 500, e.code, e.message);
    if (e.rule) Object.assign(a.body.error, e.rule);
    return a;
  }
  const fe = e as FastifyError & { validation?: unknown; validationContext?: string };
  if (Array.isArray(fe?.validation) && fe.validation.length) {
    const details = schemaProblems(fe.validation, fe.validationContext ?? 'body');
    const a = answer(400, 'invalid_request', schemaMessage(details));
    a.body.error.details = details;
    return a;
  }
  if (fe?.validation) return answer(400, 'invalid_request', `the request does not fit its schema: ${fe.message}`);
  switch (fe?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return answer(400, 'malformed_json', jsonProblem(fe.message));
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return answer(413, 'body_too_large', `the request is too large: ${fe.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return answer(415, 'unsupported_media_type', 'send application/json or multipart/form-data');
    case 'FST_ERR_BAD_URL':
      // The URL itself is not echoed: it may carry a key in its query string.
      return answer(400, 'invalid_request', 'the URL is not valid (a malformed percent-encoding?)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return answer(414, 'uri_too_long', 'a path segment of the URL is too long (a subject reference is at most 128 characters)');
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return answer(400, 'invalid_request', fe.message);
  }
  if (e instanceof SyntaxError) return answer(400, 'malformed_json', jsonProblem(e.message));
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return answer(fe.statusCode, 'invalid_request', fe.message);
  return answer(500, 'internal', 'an internal error occurred; it has been logged');
}
