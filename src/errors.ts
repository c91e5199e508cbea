/**
 * One error type for everything a caller can get wrong, with a stable machine-readable code.
 * The CLI prints `message` as one line and the HTTP layer maps `code` to a 4xx answer, so
 * messages must name the input at fault and never carry image bytes or templates.
 */
export type ProbityErrorCode =
  | 'file_not_found'
  | 'file_unreadable'
  | 'empty_input'
  | 'input_too_large'
  | 'not_an_image'
  | 'unsupported_image_format'
  | 'corrupt_image'
  | 'too_many_pixels'
  | 'image_too_small'
  | 'no_face'
  | 'face_quality_too_low'
  | 'unknown_model'
  | 'model_missing'
  | 'model_mismatch'
  | 'several_faces'
  | 'invalid_argument'
  // The service's own: who is asking, what they may touch, and how the request was sent.
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'idempotency_key_reused'
  | 'rate_limited'
  | 'malformed_json'
  | 'invalid_request'
  | 'unsupported_media_type'
  | 'body_too_large'
  | 'callback_url_refused'
  | 'malformed_multipart'
  | 'uri_too_long'
  | 'headers_too_large'
  // Refusals by policy, each citing its rule.
  | 'purpose_not_approved'
  | 'purpose_mismatch'
  | 'policy_refused'
  | 'legal_authority_required'
  | 'legal_authority_expired'
  | 'attribute_inference_refused'
  | 'consent_required'
  | 'purpose_not_declared'
  | 'purpose_not_covered'
  // The face presented was judged an artefact (a print, a screen) rather than a live person.
  | 'presentation_attack_suspected'
  // A photograph added to a subject is not of the person the subject's templates (or the request's other photographs) show.
  | 'subject_mismatch'

  // A data key is wrapped under an installation key this process does not hold.
  | 'key_unavailable'
  // An organisation's identity provider cannot be reached or its client secret read.
  | 'sign_in_unavailable';

/** The rule behind a refusal, so a requester (and the audit log) can see what law refused it. */
export interface RuleCitation {
  rule: string;
  citation: string;
}

export class ProbityError extends Error {
  readonly code: ProbityErrorCode;
  readonly rule?: RuleCitation;
  constructor(code: ProbityErrorCode, message: string, rule?: RuleCitation) {
    super(message);
    this.name = 'ProbityError';
    this.code = code;
    if (rule) this.rule = rule;
  }
}

export function isProbityError(e: unknown): e is ProbityError {
  return e instanceof ProbityError;
}
